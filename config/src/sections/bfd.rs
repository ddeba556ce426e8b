//! The BFD authentication keys shared by `[[bgp.neighbor]]` and
//! `[[peer]]`: `bfd_key_file` (Keyed SHA1, RFC 5880 §6.7.4),
//! `bfd_key_id`, `bfd_meticulous`.

use crate::model::BfdAuth;
use crate::reader::{Ctx, Table, bad, boolean, int_in, string};
use crate::secret::read_bfd_key_file;

/// The keys this module reads.
pub(crate) const AUTH_KEYS: &[&str] = &["bfd_key_file", "bfd_key_id", "bfd_meticulous"];

/// Reads the authentication keys of table `t`. With `on` false (no `bfd =
/// true`) any of them is an error: it would do nothing. `bfd_key_id` or
/// `bfd_meticulous` without `bfd_key_file` is one too.
pub(crate) fn auth(ctx: &mut Ctx<'_>, t: &Table<'_, '_>, on: bool) -> Option<BfdAuth> {
    let base = ctx.base_dir();
    let key = t
        .field(ctx, "bfd_key_file", |v| {
            let shown = string(v)?;
            read_bfd_key_file(&base.join(&shown), &shown).map_err(|e| bad(e.message, e.help))
        })
        .opt();
    let key_id = t
        .field(ctx, "bfd_key_id", |v| {
            int_in::<u8>(
                v,
                0,
                255,
                "use a key id from 0 to 255, the same on both sides",
            )
        })
        .opt();
    let meticulous = t.field(ctx, "bfd_meticulous", boolean).opt();
    let present_key = t.inner.get("bfd_key_file").is_some();
    for (name, span) in [
        ("bfd_key_file", key.as_ref().map(|(_, s)| s)),
        ("bfd_key_id", key_id.as_ref().map(|(_, s)| s)),
        ("bfd_meticulous", meticulous.as_ref().map(|(_, s)| s)),
    ] {
        let Some(span) = span else { continue };
        if !on {
            ctx.error(
                span,
                t.key_path(name),
                bad(
                    format!("{name} has no effect without bfd = true"),
                    "add `bfd = true`, or remove the key".to_string(),
                ),
            );
        } else if name != "bfd_key_file" && !present_key {
            ctx.error(
                span,
                t.key_path(name),
                bad(
                    format!("{name} has no effect without bfd_key_file"),
                    "add bfd_key_file = \"bfd.key\" (a file of mode 0600 with the shared key, \
                     1 to 20 bytes), or remove the key"
                        .to_string(),
                ),
            );
        }
    }
    if !on {
        return None;
    }
    let (key, _) = key?;
    Some(BfdAuth {
        key,
        key_id: key_id.map_or(1, |(k, _)| k),
        meticulous: meticulous.is_some_and(|(m, _)| m),
    })
}
