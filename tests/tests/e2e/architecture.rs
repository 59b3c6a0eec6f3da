//! Architecture rules checked over the sources (parsed with `syn`), so they hold as the code
//! grows:
//! - no import cycle between the modules (files) of `host/` or of `engine/`: every path a module
//!   names (`use` lines, and paths in code and macro calls) is an edge to the module that defines
//!   the item, following re-exports; `pub use` alone is an alias, not an edge;
//! - nothing in `host/` imports the composition root (`app`);
//! - nothing above the store names the database driver (`sqlx`, `Sqlite*`);
//! - nothing logs around the telemetry seam (no `tracing` level macros outside `telemetry/`).

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::path::{Path, PathBuf};

use syn::visit::Visit;

/// A module path from the crate root, e.g. `["accounts", "model"]` (the root is `[]`).
type ModPath = Vec<String>;

/// One file of a crate.
#[derive(Debug, Default)]
struct Module {
    file: PathBuf,
    /// Submodules declared in this file (`mod x;`).
    children: BTreeSet<String>,
    /// `pub use` aliases: name → the absolute path it stands for.
    reexports: HashMap<String, ModPath>,
    /// Absolute paths this file names (not through `pub use`).
    uses: Vec<ModPath>,
    /// Paths whose first segment is an external crate, as written (for the driver rule).
    external: Vec<ModPath>,
    /// Macro invocations, by path.
    macros: Vec<ModPath>,
}

/// A crate's modules.
#[derive(Debug, Default)]
struct Crate {
    modules: BTreeMap<ModPath, Module>,
}

fn segments(path: &syn::Path) -> ModPath {
    path.segments.iter().map(|s| s.ident.to_string()).collect()
}

/// Expands a `use` tree into full paths, each with the name it binds (`None` for globs).
fn expand_use(tree: &syn::UseTree, prefix: &mut ModPath, out: &mut Vec<(ModPath, Option<String>)>) {
    match tree {
        syn::UseTree::Path(p) => {
            prefix.push(p.ident.to_string());
            expand_use(&p.tree, prefix, out);
            prefix.pop();
        }
        syn::UseTree::Name(n) => {
            let name = n.ident.to_string();
            if name == "self" {
                out.push((prefix.clone(), prefix.last().cloned()));
            } else {
                let mut full = prefix.clone();
                full.push(name.clone());
                out.push((full, Some(name)));
            }
        }
        syn::UseTree::Rename(r) => {
            let mut full = prefix.clone();
            let name = r.ident.to_string();
            if name != "self" {
                full.push(name);
            }
            out.push((full, Some(r.rename.to_string())));
        }
        syn::UseTree::Glob(_) => out.push((prefix.clone(), None)),
        syn::UseTree::Group(g) => {
            for t in &g.items {
                expand_use(t, prefix, out);
            }
        }
    }
}

/// Collects what one file names. Inline modules (`mod tests { .. }`) count as the file: their
/// `super::` is the file's module.
struct Collector<'a> {
    module: &'a ModPath,
    children: &'a BTreeSet<String>,
    /// Depth of inline modules around the current item.
    inline_depth: usize,
    /// Names bound by the file's (non-`pub`) `use` lines that stand for crate paths.
    local: HashMap<String, ModPath>,
    out: Module,
}

impl Collector<'_> {
    /// The absolute path of `path` as written in this file, or `None` for external crates and
    /// the standard library.
    fn absolute(&self, path: &[String]) -> Option<ModPath> {
        let (first, rest) = path.split_first()?;
        match first.as_str() {
            "crate" => Some(rest.to_vec()),
            "self" => Some(self.module.iter().chain(rest).cloned().collect()),
            "super" => {
                // Inside an inline module, `super` is the file itself.
                let mut base = self.module.clone();
                let mut rest = rest;
                if self.inline_depth == 0 {
                    base.pop();
                }
                while let Some(("super", more)) = rest.split_first().map(|(s, m)| (s.as_str(), m)) {
                    base.pop();
                    rest = more;
                }
                Some(base.into_iter().chain(rest.iter().cloned()).collect())
            }
            // `child::item`; a lone `child` is as likely a local variable of that name.
            name if !rest.is_empty() && self.children.contains(name) => {
                Some(self.module.iter().chain(path).cloned().collect())
            }
            name => self
                .local
                .get(name)
                .map(|p| p.iter().chain(rest).cloned().collect()),
        }
    }

    fn record(&mut self, path: ModPath) {
        match self.absolute(&path) {
            Some(abs) => self.out.uses.push(abs),
            None => self.out.external.push(path),
        }
    }

    /// `crate :: a :: b` sequences inside macro arguments (`json!`, `format!`, `emit!` …).
    fn macro_tokens(&mut self, tokens: proc_macro2::TokenStream) {
        use proc_macro2::TokenTree;
        let colon = |t: Option<&TokenTree>| matches!(t, Some(TokenTree::Punct(p)) if p.as_char() == ':');
        let tokens: Vec<TokenTree> = tokens.into_iter().collect();
        let mut i = 0;
        while i < tokens.len() {
            match &tokens[i] {
                TokenTree::Group(g) => {
                    self.macro_tokens(g.stream());
                    i += 1;
                }
                TokenTree::Ident(id) if ["crate", "super", "self"].contains(&id.to_string().as_str()) => {
                    let mut path = vec![id.to_string()];
                    let mut j = i + 1;
                    while colon(tokens.get(j)) && colon(tokens.get(j + 1)) {
                        let Some(TokenTree::Ident(next)) = tokens.get(j + 2) else {
                            break;
                        };
                        path.push(next.to_string());
                        j += 3;
                    }
                    if path.len() > 1 {
                        self.record(path);
                    }
                    i = j;
                }
                _ => i += 1,
            }
        }
    }
}

impl<'ast> Visit<'ast> for Collector<'_> {
    fn visit_item_use(&mut self, u: &'ast syn::ItemUse) {
        let mut paths = Vec::new();
        expand_use(&u.tree, &mut Vec::new(), &mut paths);
        let public = !matches!(u.vis, syn::Visibility::Inherited);
        for (path, name) in paths {
            match self.absolute(&path) {
                // A re-export is an alias (no edge), though code below may use the name too.
                Some(abs) if public && self.inline_depth == 0 => {
                    if let Some(name) = name {
                        self.local.insert(name.clone(), abs.clone());
                        self.out.reexports.insert(name, abs);
                    }
                }
                Some(abs) => {
                    if let Some(name) = name {
                        self.local.insert(name, abs.clone());
                    }
                    self.out.uses.push(abs);
                }
                None => self.out.external.push(path),
            }
        }
    }

    fn visit_item_mod(&mut self, m: &'ast syn::ItemMod) {
        if m.content.is_some() {
            self.inline_depth += 1;
            syn::visit::visit_item_mod(self, m);
            self.inline_depth -= 1;
        }
    }

    // `pub(super)` and `pub(in path)` name where an item is visible, not what it uses.
    fn visit_visibility(&mut self, _: &'ast syn::Visibility) {}

    fn visit_path(&mut self, p: &'ast syn::Path) {
        self.record(segments(p));
        syn::visit::visit_path(self, p);
    }

    fn visit_macro(&mut self, m: &'ast syn::Macro) {
        self.out.macros.push(segments(&m.path));
        self.macro_tokens(m.tokens.clone());
        syn::visit::visit_macro(self, m);
    }
}

/// Parses the crate whose root is `src/lib.rs` (or `src/main.rs`).
fn load(src: &Path) -> Crate {
    let mut krate = Crate::default();
    let root = if src.join("lib.rs").is_file() {
        src.join("lib.rs")
    } else {
        src.join("main.rs")
    };
    let mut pending = vec![(Vec::new(), root)];
    while let Some((module, file)) = pending.pop() {
        let text = std::fs::read_to_string(&file).unwrap_or_else(|e| panic!("{}: {e}", file.display()));
        let ast = syn::parse_file(&text).unwrap_or_else(|e| panic!("{}: {e}", file.display()));
        // The directory of this module's children.
        let dir = match file.file_name().and_then(|n| n.to_str()) {
            Some("lib.rs" | "main.rs" | "mod.rs") => file.parent().unwrap().to_owned(),
            _ => file.with_extension(""),
        };
        let mut children = BTreeSet::new();
        for item in &ast.items {
            if let syn::Item::Mod(m) = item
                && m.content.is_none()
            {
                let name = m.ident.to_string();
                let child = [dir.join(format!("{name}.rs")), dir.join(&name).join("mod.rs")]
                    .into_iter()
                    .find(|p| p.is_file())
                    .unwrap_or_else(|| panic!("{}: mod {name} has no file", file.display()));
                let mut path = module.clone();
                path.push(name.clone());
                pending.push((path, child));
                children.insert(name);
            }
        }
        // Two passes: `use` lines first, so names they bind resolve in the code below them.
        let mut c = Collector {
            module: &module,
            children: &children,
            inline_depth: 0,
            local: HashMap::new(),
            out: Module::default(),
        };
        for item in &ast.items {
            if let syn::Item::Use(u) = item {
                c.visit_item_use(u);
            }
        }
        for item in &ast.items {
            if !matches!(item, syn::Item::Use(_)) {
                c.visit_item(item);
            }
        }
        let mut out = c.out;
        out.file = file;
        out.children = children;
        krate.modules.insert(module, out);
    }
    krate
}

impl Crate {
    /// The module holding what `path` names (following re-exports), if it is in this crate.
    fn resolve(&self, path: &[String], depth: usize) -> Option<ModPath> {
        let mut at = path.len();
        while !self.modules.contains_key(&path[..at]) {
            at = at.checked_sub(1)?;
        }
        let module = path[..at].to_vec();
        if depth < 8
            && let Some(name) = path.get(at)
            && let Some(target) = self.modules[&module].reexports.get(name)
        {
            let mut next = target.clone();
            next.extend(path[at + 1..].iter().cloned());
            return self.resolve(&next, depth + 1).or(Some(module));
        }
        Some(module)
    }

    /// Module → the modules it depends on.
    fn edges(&self) -> BTreeMap<ModPath, BTreeSet<ModPath>> {
        let mut edges = BTreeMap::new();
        for (name, m) in &self.modules {
            let targets: &mut BTreeSet<ModPath> = edges.entry(name.clone()).or_default();
            for used in &m.uses {
                if let Some(target) = self.resolve(used, 0)
                    && &target != name
                {
                    targets.insert(target);
                }
            }
        }
        edges
    }
}

fn show(path: &ModPath) -> String {
    if path.is_empty() {
        "crate".into()
    } else {
        path.join("::")
    }
}

/// The strongly connected components with more than one module (Tarjan).
fn cycles(edges: &BTreeMap<ModPath, BTreeSet<ModPath>>) -> Vec<Vec<ModPath>> {
    struct Tarjan<'a> {
        edges: &'a BTreeMap<ModPath, BTreeSet<ModPath>>,
        index: HashMap<&'a ModPath, usize>,
        low: HashMap<&'a ModPath, usize>,
        stack: Vec<&'a ModPath>,
        on_stack: BTreeSet<&'a ModPath>,
        out: Vec<Vec<ModPath>>,
    }
    impl<'a> Tarjan<'a> {
        fn visit(&mut self, v: &'a ModPath) {
            let i = self.index.len();
            self.index.insert(v, i);
            self.low.insert(v, i);
            self.stack.push(v);
            self.on_stack.insert(v);
            for w in self.edges.get(v).into_iter().flatten() {
                if !self.index.contains_key(w) {
                    self.visit(w);
                    let lw = self.low[w];
                    let lv = self.low.get_mut(v).unwrap();
                    *lv = (*lv).min(lw);
                } else if self.on_stack.contains(w) {
                    let iw = self.index[w];
                    let lv = self.low.get_mut(v).unwrap();
                    *lv = (*lv).min(iw);
                }
            }
            if self.low[v] == self.index[v] {
                let mut scc = Vec::new();
                while let Some(w) = self.stack.pop() {
                    self.on_stack.remove(w);
                    scc.push(w.clone());
                    if w == v {
                        break;
                    }
                }
                if scc.len() > 1 {
                    self.out.push(scc);
                }
            }
        }
    }
    let mut t = Tarjan {
        edges,
        index: HashMap::new(),
        low: HashMap::new(),
        stack: Vec::new(),
        on_stack: BTreeSet::new(),
        out: Vec::new(),
    };
    for v in edges.keys() {
        if !t.index.contains_key(v) {
            t.visit(v);
        }
    }
    t.out
}

fn describe_cycles(krate: &Crate, found: &[Vec<ModPath>]) -> String {
    let edges = krate.edges();
    let mut text = String::new();
    for scc in found {
        let members: BTreeSet<&ModPath> = scc.iter().collect();
        text.push_str(&format!(
            "cycle among {}:\n",
            scc.iter().map(show).collect::<Vec<_>>().join(", ")
        ));
        for m in scc {
            for t in edges[m].iter().filter(|t| members.contains(t)) {
                text.push_str(&format!(
                    "  {} ({}) uses {}\n",
                    show(m),
                    krate.modules[m].file.display(),
                    show(t)
                ));
            }
        }
    }
    text
}

/// `<repository>/<krate>/src`; `PATCHBAY_ARCH_ROOT` checks another checkout (e.g. an older
/// commit, to see what the rules report there).
fn src(krate: &str) -> PathBuf {
    let root = std::env::var_os("PATCHBAY_ARCH_ROOT")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join(".."));
    root.join(krate).join("src")
}

#[test]
fn no_import_cycles_in_host_or_engine() {
    for name in ["host", "engine"] {
        let krate = load(&src(name));
        assert!(krate.modules.len() > 10, "{name}: the sources were read");
        let found = cycles(&krate.edges());
        assert!(
            found.is_empty(),
            "{name} has import cycles:\n{}",
            describe_cycles(&krate, &found)
        );
        let edges = krate.edges();
        let count: usize = edges.values().map(BTreeSet::len).sum();
        println!(
            "architecture: {name}: {} modules, {count} import edges, no cycle",
            krate.modules.len()
        );
        // The picture at the level of top-level modules (folders), for docs/ARCHITECTURE.md.
        let mut folders: BTreeMap<&str, BTreeSet<&str>> = BTreeMap::new();
        for (from, targets) in &edges {
            let Some(top) = from.first() else { continue };
            let entry = folders.entry(top).or_default();
            for t in targets {
                if let Some(t) = t.first().filter(|t| *t != top) {
                    entry.insert(t);
                }
            }
        }
        for (from, to) in folders {
            println!(
                "architecture: {name}: {from} -> {}",
                to.into_iter().collect::<Vec<_>>().join(", ")
            );
        }
    }
}

#[test]
fn host_layers_point_down() {
    let krate = load(&src("host"));
    let under = |m: &ModPath, top: &str| m.first().is_some_and(|f| f == top);
    let edges = krate.edges();
    let mut problems = BTreeSet::new();
    for (name, m) in &krate.modules {
        let file = m.file.display();
        for target in &edges[name] {
            if under(target, "app") && !under(name, "app") {
                problems.insert(format!("{file}: imports the composition root ({})", show(target)));
            }
        }
        if !under(name, "store") {
            for p in &m.external {
                if p.first().is_some_and(|s| s == "sqlx") || p.iter().any(|s| s.starts_with("Sqlite")) {
                    problems.insert(format!("{file}: names the database driver ({})", p.join("::")));
                }
            }
        }
        if !under(name, "telemetry") {
            const LEVELS: [&str; 12] = [
                "trace",
                "debug",
                "info",
                "warn",
                "error",
                "event",
                "span",
                "trace_span",
                "debug_span",
                "info_span",
                "warn_span",
                "error_span",
            ];
            for p in m.macros.iter().chain(&m.external) {
                if p.len() == 2 && p[0] == "tracing" && LEVELS.contains(&p[1].as_str()) {
                    problems.insert(format!(
                        "{file}: logs around the telemetry seam (tracing::{}); emit an event of telemetry::events",
                        p[1]
                    ));
                }
            }
        }
    }
    assert!(
        problems.is_empty(),
        "{}",
        problems.into_iter().collect::<Vec<_>>().join("\n")
    );
}

/// The checker itself: a cycle through a re-export is found, a `pub use` alone is not an edge,
/// and `super` inside an inline test module is the file itself.
#[test]
fn the_checker_finds_cycles_and_follows_reexports() {
    let dir = patchbay_tests::scratch_dir("architecture");
    let write = |rel: &str, text: &str| {
        let path = dir.join(rel);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, text).unwrap();
    };
    write("lib.rs", "mod a;\nmod b;\npub use a::A;\n");
    write(
        "a/mod.rs",
        "mod inner;\npub use inner::A;\n#[cfg(test)]\nmod tests { use super::*; }\n",
    );
    write("a/inner.rs", "pub struct A(crate::b::B);\n");
    write("b.rs", "pub struct B;\nfn f() -> crate::A { todo!() }\n");
    let krate = load(&dir);
    let edges = krate.edges();
    let inner = vec!["a".to_owned(), "inner".to_owned()];
    let b = vec!["b".to_owned()];
    assert!(
        edges[&vec!["a".to_owned()]].is_empty(),
        "a re-export is not an edge: {edges:?}"
    );
    assert_eq!(
        edges[&b],
        BTreeSet::from([inner.clone()]),
        "crate::A resolves through both re-exports"
    );
    let found = cycles(&edges);
    assert_eq!(found.len(), 1, "{found:?}");
    assert_eq!(
        found[0].iter().cloned().collect::<BTreeSet<_>>(),
        BTreeSet::from([inner, b])
    );
    write("b.rs", "pub struct B;\n");
    assert!(cycles(&load(&dir).edges()).is_empty());
    let _ = std::fs::remove_dir_all(dir);
}

/// The docs name only events that exist (`patchbay.<area>.<op>` in README and docs/).
#[test]
fn docs_name_only_listed_events() {
    let names: BTreeSet<&str> = patchbay::telemetry::events::ALL.iter().map(|e| e.name).collect();
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let mut files = vec![root.join("README.md")];
    files.extend(
        std::fs::read_dir(root.join("docs"))
            .unwrap()
            .map(|e| e.unwrap().path())
            .filter(|p| p.extension().is_some_and(|x| x == "md")),
    );
    let mut unknown = BTreeSet::new();
    let mut seen = 0;
    for file in files {
        let text = std::fs::read_to_string(&file).unwrap();
        for (i, _) in text.match_indices("patchbay.") {
            let word: String = text[i..]
                .chars()
                .take_while(|c| c.is_ascii_lowercase() || *c == '_' || *c == '.')
                .collect();
            let word = word.trim_end_matches('.');
            let parts: Vec<&str> = word.split('.').collect();
            // `patchbay.db`, `patchbay.db.key`: files, not events.
            if parts.len() != 3 || parts[1] == "db" {
                continue;
            }
            seen += 1;
            if !names.contains(word) {
                unknown.insert(format!("{}: {word}", file.display()));
            }
        }
    }
    assert!(seen > 5, "the docs were read ({seen} event names)");
    assert!(unknown.is_empty(), "not in telemetry/events.rs: {unknown:?}");
}
