//! SCRIPT DEBUG YES without fork(): Redis forks a child that runs the debugging session on
//! its copy of the dataset, while the parent closes the client and serves everyone else; the
//! child's changes die with it.
//!
//! Here the "child" is a throwaway `Server` built from the server's config, holding a deep
//! copy of the dataset (made while EVAL holds every shard, as the fork is one instant), with
//! its own Lua state, script cache, stats, pub/sub and replication stream, so nothing the
//! script does reaches the real server, its clients or its replicas. The session runs on a
//! blocking thread on a duplicate of the client's socket; the connection itself closes
//! without shutting the socket down, which ends when the session does, as when Redis's
//! child exits. The copy costs the dataset's memory and a pause of the copy's length.

use std::sync::atomic::Ordering;
use std::sync::Arc;

use bytes::BytesMut;

use super::Mode;
use crate::commands::{CmdError, Ctx};
use crate::keyspace::{Table, SHARDS};
use crate::protocol::Reply;
use crate::server::{connection, dispatch, Server};

/// EVAL under SCRIPT DEBUG YES: hands the client to a session on a copy of the server.
pub fn eval(cx: &mut Ctx) -> Result<Reply, CmdError> {
    let fd = cx.client.debug_fd();
    if fd < 0 {
        return Err(CmdError::err(
            "Fork() failed: can't run EVAL in debugging mode: no socket",
        ));
    }
    // SAFETY: the client's socket is open while its command runs; the duplicate is owned.
    let sock = unsafe { std::os::fd::BorrowedFd::borrow_raw(fd) }
        .try_clone_to_owned()
        .map_err(|e| {
            CmdError::err(format_args!(
                "Fork() failed: can't run EVAL in debugging mode: {e}"
            ))
        })?;
    let child = copy_of(cx);
    let (db, resp) = (cx.client.db, cx.client.resp);
    let argv = cx.argv.to_vec();
    let parent = cx.server.me.clone();
    let addr = cx.client.shared.addr.clone();
    let laddr = cx.client.shared.laddr.clone();
    tokio::task::spawn_blocking(move || {
        tracing::warn!("Redis forked for debugging eval");
        use std::os::fd::AsRawFd;
        let (mut client, _rx) = connection::register(&child, addr, laddr, sock.as_raw_fd());
        client.select(db);
        client.resp = resp;
        client.authenticated = true;
        client.lua_debug = Mode::Forked;
        *child.scripting.fork_parent.lock() = Some(parent);
        let reply = match dispatch::resolve(&argv) {
            Ok((id, spec)) => dispatch::call(&child, &mut client, id, spec, &argv),
            Err(e) => Reply::Error(e.0),
        };
        let mut out = BytesMut::new();
        crate::protocol::encode::encode(&reply, client.resp, &mut out);
        use std::io::Write;
        let mut sock = std::net::TcpStream::from(sock);
        let _ = sock.write_all(&out);
        tracing::warn!("Lua debugging session child exiting");
        connection::unregister(&child, &mut client);
    });
    // The parent's side of the client goes away, without a reply (redis `freeClientAsync`).
    cx.client.socket_handed_off = true;
    cx.client.close_after_reply = true;
    cx.client.lua_debug = Mode::Off;
    Ok(Reply::None)
}

/// A server of its own with a copy of the dataset and of the settings the script sees.
fn copy_of(cx: &mut Ctx) -> Arc<Server> {
    let server = cx.server;
    let child = Server::new(server.config.read().clone());
    child.role_replica.store(
        server.role_replica.load(Ordering::Relaxed),
        Ordering::Relaxed,
    );
    server.scripting.copy_random_state(&child.scripting);
    let ndbs = child.keyspace.databases();
    let mut tables: Vec<Vec<Table>> = (0..SHARDS)
        .map(|_| (0..ndbs).map(|_| Table::default()).collect())
        .collect();
    for shard in cx.db.locked.shards_mut() {
        for (i, table) in shard.tables.iter().enumerate().take(ndbs) {
            for (key, entry, expire) in table.iter_full() {
                let to = &mut tables[child.keyspace.shard_of(key)][i];
                to.insert(key.clone(), entry.clone(), expire);
            }
        }
    }
    drop(child.keyspace.install(tables));
    child
}
