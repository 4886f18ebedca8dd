//! The table's definition, as template.yaml declares it; the local stack creates it from
//! here (`outflow-local`) and a test checks both agree.

/// Partition key attribute.
pub const PARTITION_KEY: &str = "pk";
/// Sort key attribute.
pub const SORT_KEY: &str = "sk";
/// TTL attribute (Unix seconds).
pub const TTL_ATTRIBUTE: &str = "expires_at";

/// A global secondary index: name, partition key attribute, sort key attribute.
pub struct Index {
    /// Index name.
    pub name: &'static str,
    /// Partition key attribute.
    pub partition_key: &'static str,
    /// Sort key attribute.
    pub sort_key: &'static str,
}

/// Windows waiting to be flushed, by due time (sparse: only pending window items).
pub const DUE_INDEX: Index = Index {
    name: "due",
    partition_key: "due_pk",
    sort_key: "due_sk",
};
/// Messages of one chat window, by timestamp (sparse: only aggregated messages).
pub const WINDOW_INDEX: Index = Index {
    name: "window",
    partition_key: "win_pk",
    sort_key: "win_sk",
};
/// Messages by arrival hour, chat shard and chat (sparse: only messages that joined a
/// window of an endpoint other than the default; those windows read their messages here).
pub const ARRIVAL_INDEX: Index = Index {
    name: "arrival",
    partition_key: "arr_pk",
    sort_key: "arr_sk",
};
/// Every GSI of the table.
pub const INDEXES: [Index; 3] = [DUE_INDEX, WINDOW_INDEX, ARRIVAL_INDEX];
