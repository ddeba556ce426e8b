//! Declarative TOML configuration for `vcped`, the vcpe router daemon.
//!
//! [`load`] / [`parse`] read a file into the typed [`Config`] model, or
//! return [`Diagnostics`] listing *every* problem found, each with
//! `file:line:column`, the key path (`bgp.neighbor[2].remote_as`, 0-based
//! indices), what is wrong and what would be right. The schema is
//! documented in `examples/single-vpc.toml` and on the model types.

mod community;
mod diagnostic;
pub mod diff;
pub mod diff_fields;
pub mod edit;
mod file;
mod model;
pub mod mtu;
mod policy;
mod prefix_filter;
mod reader;
mod refusals;
mod secret;
mod sections;
mod validate;

use std::path::Path;

pub use community::{Community, CommunityError, LargeCommunity};
pub use diagnostic::{Diagnostic, Diagnostics};
pub use file::read_config_file;
pub use model::{
    AddPaths, BfdAuth, Bgp, Config, Control, Encapsulation, Forwarding, Interface, Kernel, Metrics,
    Neighbor, NeighborBfd, NeighborMode, Peer, PeerBfd, RouteAttrs, RouteTarget, Router,
    StaticRoute, inner_addresses,
};
pub use policy::{PolicyRule, RuleAction};
pub use prefix_filter::{PrefixFilter, PrefixFilterError};
pub use refusals::HostChecks;
pub use secret::{
    KeyFile, MD5_MAX_KEY_LEN, PasswordFile, PublicKey, generate_private_key, load_private_key,
};
pub use sections::{
    AS_TRANS, DEFAULT_SOCKET, GRE_NO_PORT, MAX_PATHS, MAX_SHUTDOWN_MESSAGE, VXLAN_UDP_PORT,
};

/// Where `vcped` looks for its configuration by default.
pub const DEFAULT_PATH: &str = "/etc/vcpe/vcped.toml";

/// Reads and validates the configuration file at `path`. Relative key-file
/// paths inside it are resolved against the file's directory. Anything but
/// a regular file is refused ([`read_config_file`]).
pub fn load(path: &Path) -> Result<Config, Diagnostics> {
    match read_config_file(path) {
        Ok(source) => parse(&source, path),
        Err(e) => Err(unreadable(path, &e)),
    }
}

/// The diagnostic for a config file that cannot be read.
pub fn unreadable(path: &Path, e: &std::io::Error) -> Diagnostics {
    Diagnostics {
        file: path.to_path_buf(),
        errors: vec![Diagnostic {
            file: path.to_path_buf(),
            line: 1,
            column: 1,
            path: String::new(),
            message: format!("cannot read configuration file: {e}"),
            help: None,
        }],
    }
}

/// Validates configuration text. `origin` names the file in diagnostics and
/// is the base for relative key-file paths (its parent directory).
pub fn parse(source: &str, origin: &Path) -> Result<Config, Diagnostics> {
    parse_inner(source, origin, None)
}

/// [`load`], and the checks only this machine can answer (a `[control]
/// group` that exists): what `vcped run` and `vcped check-config` use, so
/// that check-config refuses everything run would.
pub fn load_on_host(path: &Path, host: &HostChecks) -> Result<Config, Diagnostics> {
    match read_config_file(path) {
        Ok(source) => parse_on_host(&source, path, host),
        Err(e) => Err(unreadable(path, &e)),
    }
}

/// [`parse`] with the checks of [`load_on_host`], for text read already.
pub fn parse_on_host(
    source: &str,
    origin: &Path,
    host: &HostChecks,
) -> Result<Config, Diagnostics> {
    parse_inner(source, origin, Some(host))
}

fn parse_inner(
    source: &str,
    origin: &Path,
    host: Option<&HostChecks>,
) -> Result<Config, Diagnostics> {
    let mut ctx = reader::Ctx::new(source, origin);
    let doc = match toml::de::DeTable::parse(source) {
        Ok(doc) => doc,
        Err(e) => {
            let span = e.span().unwrap_or(0..0);
            let message = format!("invalid TOML: {}", e.message().trim_end());
            ctx.error(&span, "", reader::bad(message, None));
            return Err(finish(ctx));
        }
    };
    let root = reader::Table {
        inner: doc.get_ref(),
        span: 0..0,
        path: String::new(),
    };
    let (config, locs) = sections::build(&mut ctx, &root);
    validate::cross_check(&mut ctx, &config, &locs);
    refusals::check(&mut ctx, &config, &locs);
    if let Some(h) = host {
        refusals::check_host(&mut ctx, &config, &locs, h);
    }
    if ctx.has_errors() {
        Err(finish(ctx))
    } else {
        Ok(config)
    }
}

fn finish(ctx: reader::Ctx<'_>) -> Diagnostics {
    let (file, errors) = ctx.finish();
    Diagnostics { file, errors }
}
