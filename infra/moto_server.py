"""moto server with DynamoDB made atomic, as DynamoDB is.

moto runs a transaction by deep-copying the table and, when the transaction is cancelled,
putting that copy back: every write another request made in between is lost. Real
DynamoDB never loses a write to a cancelled transaction. Outflow's aggregator claims
windows with TransactWriteItems, and concurrent runs cancel each other's claims by design,
so the emulator must not drop writes. One lock around the DynamoDB backend's operations
makes each request atomic (SQS and SES are untouched, so long polls still run in parallel).

It also makes moto's requests cost what they touch rather than the whole table (see
infra/moto_scale.py), so large runs measure Outflow, not moto.

Usage: python infra/moto_server.py -H 127.0.0.1 -p PORT  (the arguments of moto_server)
"""

import functools
import sys
import threading

from moto.dynamodb.models import DynamoDBBackend
from moto.server import main

import moto_scale

# First the scale patches (infra/moto_scale.py), then the lock around them.
moto_scale.install()

_lock = threading.RLock()


def _atomic(method):
    @functools.wraps(method)
    def run(*args, **kwargs):
        with _lock:
            return method(*args, **kwargs)

    return run


for _name, _method in list(vars(DynamoDBBackend).items()):
    if callable(_method) and not _name.startswith("_"):
        setattr(DynamoDBBackend, _name, _atomic(_method))

def _one_service_dump(original):
    """`/moto-api/data.json?service=ses` dumps that service's models only: the whole dump
    holds every SQS message and table item of a test run (hundreds of MB by its end), and
    the tests read sent emails from it."""

    @functools.wraps(original)
    def dump(self, request, full_url, headers):
        from urllib.parse import parse_qs, urlparse

        import json

        from moto.core.model_instances import model_data

        wanted = parse_qs(urlparse(full_url).query).get("service")
        if not wanted:
            return original(self, request, full_url, headers)
        results = {}
        for service in wanted:
            results[service] = {}
            for name, model in sorted(model_data.get(service, {}).items()):
                results[service][name] = []
                for instance in model.instances_tracked:
                    fields = {}
                    for attr in dir(instance):
                        if attr.startswith("_"):
                            continue
                        try:
                            value = getattr(instance, attr)
                            json.dumps(value)
                        except (TypeError, AttributeError, ValueError):
                            continue
                        fields[attr] = value
                    results[service][name].append(fields)
        return 200, {"Content-Type": "application/javascript"}, json.dumps(results)

    return dump


from moto.moto_api._internal.responses import MotoAPIResponse  # noqa: E402

MotoAPIResponse.model_data = _one_service_dump(MotoAPIResponse.model_data)

if __name__ == "__main__":
    sys.exit(main())
