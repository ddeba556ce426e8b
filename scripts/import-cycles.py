#!/usr/bin/env python3
"""Finds import circles between the files of each crate of the workspace.

Every `.rs` file is a module. An edge A -> B means A names an item of B:
a `use crate::...`, `use super::...`, `use self::...` or `use child::...`
line, or an inline `crate::x::y` / `super::x` path in code (comments are
skipped). A path is resolved to the deepest module file it names; a name
that a module only re-exports (`pub use child::Name`) is followed to the
child that defines it.

A module's own `mod.rs` (or `lib.rs`) using its children is how Rust
composes a module, not a circle: edges from a file to its descendants are
left out, edges to ancestors and siblings are kept. Prints every circle
(strongly connected set of files) found and exits 1 if there is one.

Usage: scripts/import-cycles.py [CRATE_DIR...]   (default: every crate)
"""

import pathlib
import re
import sys

ROOT = pathlib.Path(__file__).resolve().parent.parent
USE = re.compile(r"^\s*(?:pub(?:\([^)]*\))?\s+)?use\s+([^;]+);", re.M)
INLINE = re.compile(r"\b((?:crate|super|self)(?:::\w+)+)")
MOD = re.compile(r"^\s*(?:pub(?:\([^)]*\))?\s+)?mod\s+(\w+)\s*;", re.M)


def strip_comments(text):
    text = re.sub(r"/\*.*?\*/", "", text, flags=re.S)
    return "\n".join(re.sub(r"//.*", "", line) for line in text.splitlines())


def expand(tree):
    """`a::{b, c::{d, e}}` -> ["a::b", "a::c::d", "a::c::e"]."""
    tree = re.sub(r"\s+", "", tree)
    m = re.match(r"^(.*?)\{(.*)\}$", tree)
    if not m:
        return [re.sub(r"as\w+$", "", tree)]
    prefix, inner = m.group(1), m.group(2)
    parts, depth, cur = [], 0, ""
    for ch in inner:
        if ch == "," and depth == 0:
            parts.append(cur)
            cur = ""
            continue
        depth += ch == "{"
        depth -= ch == "}"
        cur += ch
    if cur:
        parts.append(cur)
    out = []
    for p in parts:
        for e in expand(p):
            out.append((prefix + e).rstrip(":") if e != "self" else prefix.rstrip(":"))
    return out


class Crate:
    def __init__(self, src):
        self.src = src
        self.files = {}  # module path tuple -> file
        roots = [f for f in ("lib.rs", "main.rs") if (src / f).exists()]
        for r in roots:
            self.walk((), src / r)

    def walk(self, path, file):
        if path in self.files:
            return
        self.files[path] = file
        text = strip_comments(file.read_text())
        base = file.parent if file.name in ("lib.rs", "main.rs", "mod.rs") else file.with_suffix("")
        for name in MOD.findall(text):
            for cand in (base / f"{name}.rs", base / name / "mod.rs"):
                if cand.exists():
                    self.walk(path + (name,), cand)
                    break

    def resolve(self, here, segs):
        """The module a path names from module `here`."""
        if segs[0] == "crate":
            mod, rest = (), segs[1:]
        elif segs[0] == "super":
            mod, rest = here, segs
            while rest and rest[0] == "super":
                mod, rest = mod[:-1], rest[1:]
        elif segs[0] == "self":
            mod, rest = here, segs[1:]
        elif here + (segs[0],) in self.files:
            mod, rest = here, segs
        else:
            return None  # another crate, or std
        while rest and mod + (rest[0],) in self.files:
            mod, rest = mod + (rest[0],), rest[1:]
        # Follow a re-export (`pub use child::Name`) one level down.
        if rest:
            text = strip_comments(self.files[mod].read_text())
            for tree in USE.findall(text):
                for p in expand(tree):
                    s = p.split("::")
                    if s[-1] == rest[0] and len(s) > 1 and mod + (s[0],) in self.files:
                        return self.resolve(mod, s)
        return mod

    def edges(self):
        out = {m: set() for m in self.files}
        for here, file in self.files.items():
            text = strip_comments(file.read_text())
            paths = [p for tree in USE.findall(text) for p in expand(tree)]
            paths += INLINE.findall(text)
            for p in paths:
                segs = [s for s in p.split("::") if s and s != "*"]
                if not segs:
                    continue
                target = self.resolve(here, segs)
                if target is None or target == here:
                    continue
                if target[: len(here)] == here:
                    continue  # a module using its own descendants
                out[here].add(target)
        return out


def circles(graph):
    """Tarjan's strongly connected components with more than one file."""
    index, low, stack, on, out, n = {}, {}, [], set(), [], [0]

    def visit(v):
        index[v] = low[v] = n[0]
        n[0] += 1
        stack.append(v)
        on.add(v)
        for w in graph[v]:
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on.discard(w)
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1:
                out.append(comp)

    sys.setrecursionlimit(10000)
    for v in graph:
        if v not in index:
            visit(v)
    return out


def main():
    dirs = [pathlib.Path(a) for a in sys.argv[1:]] or sorted(
        p.parent for p in ROOT.glob("*/Cargo.toml") if (p.parent / "src").is_dir()
    )
    found = 0
    for d in dirs:
        crate = Crate((d / "src").resolve())
        graph = crate.edges()
        rel = lambda m: str(crate.files[m].relative_to(ROOT))
        for comp in circles(graph):
            found += 1
            files = sorted(rel(m) for m in comp)
            print(f"circle: {' <-> '.join(files)}")
        print(f"{d.name}: {len(crate.files)} files, "
              f"{sum(len(v) for v in graph.values())} edges", file=sys.stderr)
    sys.exit(1 if found else 0)


if __name__ == "__main__":
    main()
