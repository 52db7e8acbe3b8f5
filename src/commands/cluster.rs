//! CLUSTER, ASKING, READONLY and READWRITE on a standalone server (redis `clusterCommand` and
//! friends with `cluster-enabled no`): every (sub)command exists, with Redis's arity and
//! flags, and answers that cluster support is disabled.

use super::errors::CmdError;
use super::spec::{Group, Spec, ADMIN, FAST, LOADING, NOSCRIPT, STALE};
use super::Ctx;
use crate::protocol::Reply;

const A: u32 = ADMIN | STALE;

pub const COMMANDS: &[Spec] = &[
    Spec::new("cluster", -2, 0, Group::Cluster, disabled).subs(&[
        Spec::new("cluster|addslots", -3, A, Group::Cluster, disabled),
        Spec::new("cluster|addslotsrange", -4, A, Group::Cluster, disabled),
        Spec::new("cluster|bumpepoch", 2, A, Group::Cluster, disabled),
        Spec::new(
            "cluster|count-failure-reports",
            3,
            A,
            Group::Cluster,
            disabled,
        ),
        Spec::new(
            "cluster|countkeysinslot",
            3,
            STALE,
            Group::Cluster,
            disabled,
        ),
        Spec::new("cluster|delslots", -3, A, Group::Cluster, disabled),
        Spec::new("cluster|delslotsrange", -4, A, Group::Cluster, disabled),
        Spec::new("cluster|failover", -2, A, Group::Cluster, disabled),
        Spec::new("cluster|flushslots", 2, A, Group::Cluster, disabled),
        Spec::new("cluster|forget", 3, A, Group::Cluster, disabled),
        Spec::new("cluster|getkeysinslot", 4, STALE, Group::Cluster, disabled),
        Spec::new("cluster|help", 2, LOADING | STALE, Group::Cluster, disabled),
        Spec::new("cluster|info", 2, STALE, Group::Cluster, disabled),
        Spec::new("cluster|keyslot", 3, STALE, Group::Cluster, disabled),
        Spec::new("cluster|links", 2, STALE, Group::Cluster, disabled),
        Spec::new("cluster|meet", -4, A, Group::Cluster, disabled),
        Spec::new("cluster|myid", 2, STALE, Group::Cluster, disabled),
        Spec::new("cluster|nodes", 2, STALE, Group::Cluster, disabled),
        Spec::new("cluster|replicas", 3, A, Group::Cluster, disabled),
        Spec::new("cluster|replicate", 3, A, Group::Cluster, disabled),
        Spec::new("cluster|reset", -2, A | NOSCRIPT, Group::Cluster, disabled),
        Spec::new("cluster|saveconfig", 2, A, Group::Cluster, disabled),
        Spec::new("cluster|set-config-epoch", 3, A, Group::Cluster, disabled),
        Spec::new("cluster|setslot", -4, A, Group::Cluster, disabled),
        Spec::new("cluster|shards", 2, STALE, Group::Cluster, disabled),
        Spec::new("cluster|slaves", 3, A, Group::Cluster, disabled),
        Spec::new("cluster|slots", 2, STALE, Group::Cluster, disabled),
    ]),
    Spec::new("asking", 1, FAST, Group::Cluster, disabled),
    Spec::new(
        "readonly",
        1,
        LOADING | STALE | FAST,
        Group::Cluster,
        disabled,
    ),
    Spec::new(
        "readwrite",
        1,
        LOADING | STALE | FAST,
        Group::Cluster,
        disabled,
    ),
];

fn disabled(_cx: &mut Ctx) -> Result<Reply, CmdError> {
    Err(CmdError::err("This instance has cluster support disabled"))
}
