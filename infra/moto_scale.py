"""moto without its whole-table costs, so the aggregator can be measured at 100,000 chats.

moto answers every Query by walking every item of the table (a base-table Query as much as
a GSI Query), runs every TransactWriteItems by deep-copying each table it touches, and
checks each FIFO send against every message in the queue. Real DynamoDB and SQS cost what
a request touches, so against plain moto a request slows down as the table grows and a
scale run measures moto. These patches keep moto's answers (but one, below, where SQS answers otherwise) and
change only what it walks:

- Query reads the items of the one partition asked for: the base table's partition from
  moto's own item map, a GSI partition from an index kept up to date on every write
  (Table.put_item, Table.delete_item, and the in-place DynamoDBBackend.update_item);
  moto's own query code then sorts, pages and filters exactly as before.
- TransactWriteItems snapshots the items it touches instead of whole tables, and puts
  those back when it is cancelled.
- A FIFO send finds an earlier message with its deduplication id in a map, not a scan;
  and, the one answer changed, it is dropped as SQS drops it: an accepted message with
  the same id in the last five minutes swallows it even once deleted (moto's rule wants
  the earlier one still in the queue).
- Sending and receiving read the one queue attribute they need (ContentBasedDeduplication,
  MessageRetentionPeriod) instead of all of them: moto computes every attribute, the
  approximate message counts included, by walking the queue once per message.

Every call into the DynamoDB backend already holds one lock (infra/moto_server.py), so
the index never sees two writers. The whole end-to-end suite runs against the patched
server (`make test`), and the request counts of `make measure` are the same with and
without it.
"""

import copy
import types

from moto.core.utils import unix_time
from moto.dynamodb import models as dynamodb_models
from moto.dynamodb.models import DynamoDBBackend
from moto.dynamodb.models.table import Table
from moto.sqs.models import DEDUPLICATION_TIME_IN_SECONDS, Queue, SQSBackend


# --- GSI partitions ------------------------------------------------------------------------


def _gsi_hash_attrs(table):
    """(index name, its hash attribute) for each global index with one hash attribute."""
    out = []
    for index in table.global_indexes or []:
        hashes = [k["AttributeName"] for k in index.schema if k["KeyType"] == "HASH"]
        if len(hashes) == 1:
            out.append((index.name, hashes[0]))
    return out


def _index(table):
    """The table's GSI partitions: {index: {hash value: {(hash, range): None}}}, built on
    first use from a walk of the table and kept up to date by the write hooks after."""
    index = getattr(table, "_outflow_gsi", None)
    if index is None:
        index = {"parts": {name: {} for name, _ in _gsi_hash_attrs(table)}, "where": {}}
        table._outflow_gsi = index
        for item in table.all_items():
            _add(table, index, item)
    return index


def _key(item):
    return (item.hash_key, item.range_key)


def _add(table, index, item):
    places = []
    for name, attr in _gsi_hash_attrs(table):
        value = item.attrs.get(attr)
        if value is not None:
            index["parts"][name].setdefault(value, {})[_key(item)] = None
            places.append((name, value))
    if places:
        index["where"][_key(item)] = places


def _remove(index, key):
    for name, value in index["where"].pop(key, []):
        part = index["parts"][name].get(value)
        if part is not None:
            part.pop(key, None)
            if not part:
                del index["parts"][name][value]


def _reindex(table, key):
    """After a write to `key`: its GSI places as the stored item has them now."""
    index = getattr(table, "_outflow_gsi", None)
    if index is None:
        return  # built from the table when first queried
    _remove(index, key)
    item = table.get_item(*key) if table.range_key_attr else table.get_item(key[0])
    if item is not None:
        _add(table, index, item)


def _partition(table, hash_key, index_name):
    """The items a Query for `hash_key` can return: one partition, not the table."""
    if index_name is None:
        part = table.items.get(hash_key)
        if part is None:
            return []
        return list(part.values()) if table.range_key_attr else [part]
    if index_name not in dict(_gsi_hash_attrs(table)):
        return None  # a local index, or several hash attributes: moto's own walk
    keys = _index(table)["parts"][index_name].get(hash_key, {})
    found = (table.get_item(h, r) if table.range_key_attr else table.get_item(h) for h, r in keys)
    return [item for item in found if item is not None]


def _install_query():
    original = Table.query

    def query(self, hash_key, *args, **kwargs):
        # moto's backend passes index_name as the eighth positional argument.
        index_name = args[6] if len(args) > 6 else kwargs.get("index_name")

        def run():
            return original(self, hash_key, *args, **kwargs)

        value = hash_key
        conditions = kwargs.get("hash_key_conditions")
        if index_name is not None:
            if not conditions or len(conditions) != 1:
                return run()
            value = conditions[0][1]
        if value is None:
            return run()
        candidates = _partition(self, value, index_name)
        if candidates is None:
            return run()
        # moto's query picks its candidates with self.all_items(): hand it the partition.
        self.all_items = lambda: candidates
        try:
            return run()
        finally:
            del self.all_items

    Table.query = query


def _install_write_hooks():
    put = Table.put_item
    delete = Table.delete_item
    update = DynamoDBBackend.update_item

    def put_item(self, *args, **kwargs):
        item = put(self, *args, **kwargs)
        _reindex(self, _key(item))
        return item

    def delete_item(self, hash_key, range_key, *args, **kwargs):
        item = delete(self, hash_key, range_key, *args, **kwargs)
        _reindex(self, (hash_key, range_key))
        return item

    def update_item(self, table_name, *args, **kwargs):
        item = update(self, table_name, *args, **kwargs)
        if item is not None:
            _reindex(self.get_table(table_name), _key(item))
        return item

    Table.put_item = put_item
    Table.delete_item = delete_item
    DynamoDBBackend.update_item = update_item


# --- transactions --------------------------------------------------------------------------


class _NoTableCopies(types.ModuleType):
    """`copy` as moto's DynamoDB models see it during a transaction: tables are not
    copied (their touched items are, by the wrapper), everything else is."""

    def __getattr__(self, name):
        return getattr(copy, name)

    @staticmethod
    def deepcopy(value, memo=None):
        if isinstance(value, Table):
            return value
        return copy.deepcopy(value, memo)


def _install_transactions():
    original = DynamoDBBackend.transact_write_items
    no_copies = _NoTableCopies("copy")

    def transact_write_items(self, transact_items):
        snapshots = []
        for entry in transact_items:
            _, op = next(iter(entry.items()))
            table = self.tables.get(op.get("TableName"))
            if table is None:
                continue
            attrs = op.get("Item") or op.get("Key")
            try:
                hash_key, range_key = self.get_keys_value(table, attrs)
            except Exception:
                continue  # moto refuses the request itself
            current = table.get_item(hash_key, range_key)
            snapshots.append((table, hash_key, range_key, copy.deepcopy(current)))
        dynamodb_models.copy = no_copies
        try:
            return original(self, transact_items)
        except Exception:
            # Cancelled: each touched item as it was (moto "restored" the same tables).
            for table, hash_key, range_key, before in reversed(snapshots):
                table.delete_item(hash_key, range_key)
                if before is not None:
                    table.put_item(before.to_json()["Attributes"], overwrite=True)
            raise
        finally:
            dynamodb_models.copy = copy

    DynamoDBBackend.transact_write_items = transact_write_items


# --- FIFO deduplication --------------------------------------------------------------------


def _install_fifo_dedup():
    original_add = Queue.add_message

    def add_message(self, message):
        if not (self.fifo_queue and message.deduplication_id) or self.lambda_event_source_mappings:
            return original_add(self, message)
        seen = getattr(self, "_outflow_dedup", None)
        if seen is None:
            seen = self._outflow_dedup = {}
            for m in self._messages:
                if m.deduplication_id:
                    seen[m.deduplication_id] = m
        earlier = seen.get(message.deduplication_id)
        # SQS's rule: a message accepted with the id within the deduplication interval
        # swallows this one, even once it was received and deleted (moto's own rule also
        # asks that it still be in the queue, which let a second copy through as soon as
        # the first was delivered: tests/e2e/aws_faults.rs).
        if earlier is not None:
            diff = message.sent_timestamp - earlier.sent_timestamp
            if diff / 1000 < DEDUPLICATION_TIME_IN_SECONDS:
                return
        seen[message.deduplication_id] = message
        with self._messages_lock:
            self._messages.append(message)
            self._messages_lock.notify_all()

    Queue.add_message = add_message


class _QueueView:
    """A queue as moto's send path reads it: `attributes` holds only the one it reads
    (ContentBasedDeduplication, rendered as `Queue.attributes` renders it)."""

    def __init__(self, queue):
        self._queue = queue

    def __getattr__(self, name):
        return getattr(self._queue, name)

    @property
    def attributes(self):
        value = getattr(self._queue, "content_based_deduplication", None)
        if isinstance(value, bool):
            value = str(value).lower()
        return {"ContentBasedDeduplication": value}


class _SendingBackend:
    """The SQS backend as `send_message` sees it: its queues are `_QueueView`s."""

    def __init__(self, backend):
        self._backend = backend

    def __getattr__(self, name):
        return getattr(self._backend, name)

    def get_queue(self, queue_name):
        return _QueueView(self._backend.get_queue(queue_name))


def _install_queue_attributes():
    def sending(method):
        def run(self, *args, **kwargs):
            return method(_SendingBackend(self), *args, **kwargs)

        return run

    def is_message_valid_based_on_retention_period(self, queue_name, message):
        retention = int(self.get_queue(queue_name).message_retention_period)
        return retention + message.sent_timestamp / 1000 > unix_time()

    SQSBackend.send_message = sending(SQSBackend.send_message)
    SQSBackend.send_message_batch = sending(SQSBackend.send_message_batch)
    SQSBackend.is_message_valid_based_on_retention_period = (
        is_message_valid_based_on_retention_period
    )


def install():
    """Applies every patch (before the server starts)."""
    _install_query()
    _install_write_hooks()
    _install_transactions()
    _install_fifo_dedup()
    _install_queue_attributes()
