//! [`Lab`]: the per-test owner of everything the harness creates.

use std::path::Path;
use std::sync::{Arc, Mutex};

use anyhow::{Context, Result, bail};
use tempfile::TempDir;

use crate::link::{self, Bridge, Veth};
use crate::names;
use crate::netns::Netns;

/// A per-test lab: creates uniquely named namespaces, links and a temp dir for
/// daemon logs, and removes all of it when dropped (also while a failing test
/// unwinds).
///
/// Namespace names are `vt{pid:x}-{seq}-{tag}-{name}`, unique across threads
/// and processes.
#[derive(Debug)]
pub struct Lab {
    id: String,
    dir: Arc<TempDir>,
    namespaces: Mutex<Vec<Netns>>,
}

impl Lab {
    /// A new, empty lab. `tag` (usually the test name) shows up in namespace
    /// names. Fails if not root — call [`require_root!`](crate::require_root) first.
    pub fn new(tag: &str) -> Result<Self> {
        if !crate::skip::is_root() {
            bail!("vcpe_tests::Lab needs root; start the test with vcpe_tests::require_root!()");
        }
        let id = names::lab_id(tag);
        let dir = tempfile::Builder::new()
            .prefix(&format!("{id}-"))
            .tempdir()
            .context("cannot create the lab's temp dir")?;
        Ok(Self {
            id,
            dir: Arc::new(dir),
            namespaces: Mutex::new(Vec::new()),
        })
    }

    /// The lab id, the common prefix of its namespace names.
    pub fn id(&self) -> &str {
        &self.id
    }

    /// The lab's temp dir (daemon logs live here; put config files here too).
    pub fn dir(&self) -> &Path {
        self.dir.path()
    }

    /// Creates namespace `{lab id}-{name}` with `lo` up. `name` is a short
    /// word (`[A-Za-z0-9_-]`), e.g. `"a"`, `"router"`.
    pub fn netns(&self, name: &str) -> Result<Netns> {
        names::check_word("namespace name", name)?;
        let ns = Netns::create(format!("{}-{name}", self.id), Arc::clone(&self.dir))?;
        self.namespaces
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .push(ns.clone());
        Ok(ns)
    }

    /// Names of the namespaces created so far.
    pub fn netns_names(&self) -> Vec<String> {
        let list = self.namespaces.lock().unwrap_or_else(|e| e.into_inner());
        list.iter().map(|ns| ns.name().to_owned()).collect()
    }

    /// A veth pair `ns_a/if_a <-> ns_b/if_b`, both ends up (see [`link::veth`]).
    pub fn veth(&self, ns_a: &Netns, if_a: &str, ns_b: &Netns, if_b: &str) -> Result<Veth> {
        link::veth(ns_a, if_a, ns_b, if_b)
    }

    /// A bridge `name` (up) inside `ns`; plug namespaces in with [`Bridge::plug`].
    pub fn bridge(&self, ns: &Netns, name: &str) -> Result<Bridge> {
        Bridge::create(ns, name)
    }
}

impl Drop for Lab {
    /// Deletes every namespace of the lab (newest first), killing what runs in
    /// them, even if handles to them are still alive. Never panics.
    fn drop(&mut self) {
        let list = std::mem::take(&mut *self.namespaces.lock().unwrap_or_else(|e| e.into_inner()));
        for ns in list.iter().rev() {
            ns.delete();
        }
    }
}
