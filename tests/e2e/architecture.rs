//! The architecture holds, read from the source with `syn`: the modules of each crate
//! import each other without cycles; AWS SDK types stay in their adapters; only the clock
//! reads the system time; no function outside tests is longer than 60 lines; every HTTP
//! route of the functions is built with `routes!` (so it is in the OpenAPI document).
//! `cargo test architecture -- --nocapture` prints the module picture.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use syn::visit::Visit;

/// The longest a function outside tests may be, signature to closing brace.
const MAX_FUNCTION_LINES: usize = 60;

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

/// One source file: which crate, which module, its syntax tree.
struct Source {
    path: PathBuf,
    krate: String,
    module: Vec<String>,
    file: syn::File,
}

impl Source {
    fn name(&self) -> String {
        let module = if self.module.is_empty() {
            "(root)".to_string()
        } else {
            self.module.join("::")
        };
        format!("{}::{module}", self.krate)
    }
}

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap().flatten() {
        let path = entry.path();
        if path.is_dir() {
            rust_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

/// The module a file is, from its path under `src` (`store/mod.rs` is `store`).
fn module_of(src: &Path, file: &Path) -> Vec<String> {
    let relative = file.strip_prefix(src).unwrap().with_extension("");
    let mut parts: Vec<String> = relative
        .components()
        .map(|c| c.as_os_str().to_string_lossy().into_owned())
        .collect();
    if matches!(parts.last().map(String::as_str), Some("mod" | "lib")) {
        parts.pop();
    }
    parts
}

/// Every source file of the crates that ship or run (not the tests).
fn sources() -> Vec<Source> {
    let crates = [
        ("outflow", "shared/src"),
        ("outflow_benches", "shared/benches"),
        ("outflow_ingest", "functions/ingest/src"),
        ("outflow_sender", "functions/sender/src"),
        ("outflow_aggregator", "functions/aggregator/src"),
        ("outflow_api", "functions/api/src"),
        ("outflow_local", "infra/local-runner/src"),
    ];
    let mut out = Vec::new();
    for (krate, dir) in crates {
        let src = root().join(dir);
        let mut files = Vec::new();
        rust_files(&src, &mut files);
        files.sort();
        for path in files {
            let text = std::fs::read_to_string(&path).unwrap();
            let file = syn::parse_file(&text).unwrap_or_else(|e| panic!("{path:?}: {e}"));
            let module = module_of(&src, &path);
            out.push(Source {
                path,
                krate: krate.into(),
                module,
                file,
            });
        }
    }
    out
}

fn is_test(attrs: &[syn::Attribute]) -> bool {
    attrs.iter().any(|a| {
        let path = a.path();
        let cfg_test = match &a.meta {
            syn::Meta::List(list) => path.is_ident("cfg") && list.tokens.to_string() == "test",
            _ => false,
        };
        cfg_test || path.segments.last().is_some_and(|s| s.ident == "test")
    })
}

/// What one file's non-test code refers to and contains.
#[derive(Default)]
struct Findings {
    /// Paths as written (`crate::store::x`, `super::y`, `aws_sdk_sqs::z`).
    paths: Vec<Vec<String>>,
    /// Functions: name, first line, length in lines.
    functions: Vec<(String, usize, usize)>,
    /// Method calls by name.
    methods: Vec<String>,
}

fn flatten_use(tree: &syn::UseTree, prefix: &mut Vec<String>, out: &mut Vec<Vec<String>>) {
    match tree {
        syn::UseTree::Path(p) => {
            prefix.push(p.ident.to_string());
            flatten_use(&p.tree, prefix, out);
            prefix.pop();
        }
        syn::UseTree::Name(n) => {
            let mut path = prefix.clone();
            path.push(n.ident.to_string());
            out.push(path);
        }
        syn::UseTree::Rename(r) => {
            let mut path = prefix.clone();
            path.push(r.ident.to_string());
            out.push(path);
        }
        syn::UseTree::Glob(_) => out.push(prefix.clone()),
        syn::UseTree::Group(g) => g.items.iter().for_each(|t| flatten_use(t, prefix, out)),
    }
}

fn length(sig: &syn::Signature, block: &syn::Block) -> (usize, usize) {
    let start = sig.fn_token.span.start().line;
    let end = block.brace_token.span.close().end().line;
    (start, end - start + 1)
}

impl Findings {
    /// Records a function outside tests; false for a test (not looked into).
    fn function(
        &mut self,
        attrs: &[syn::Attribute],
        sig: &syn::Signature,
        block: &syn::Block,
    ) -> bool {
        if is_test(attrs) {
            return false;
        }
        let (line, len) = length(sig, block);
        self.functions.push((sig.ident.to_string(), line, len));
        true
    }
}

impl<'ast> Visit<'ast> for Findings {
    fn visit_item_mod(&mut self, m: &'ast syn::ItemMod) {
        if !is_test(&m.attrs) {
            syn::visit::visit_item_mod(self, m);
        }
    }

    fn visit_item_fn(&mut self, f: &'ast syn::ItemFn) {
        if self.function(&f.attrs, &f.sig, &f.block) {
            syn::visit::visit_item_fn(self, f);
        }
    }

    fn visit_impl_item_fn(&mut self, f: &'ast syn::ImplItemFn) {
        if self.function(&f.attrs, &f.sig, &f.block) {
            syn::visit::visit_impl_item_fn(self, f);
        }
    }

    fn visit_item_use(&mut self, u: &'ast syn::ItemUse) {
        flatten_use(&u.tree, &mut Vec::new(), &mut self.paths);
    }

    fn visit_path(&mut self, p: &'ast syn::Path) {
        self.paths
            .push(p.segments.iter().map(|s| s.ident.to_string()).collect());
        syn::visit::visit_path(self, p);
    }

    fn visit_expr_method_call(&mut self, call: &'ast syn::ExprMethodCall) {
        self.methods.push(call.method.to_string());
        syn::visit::visit_expr_method_call(self, call);
    }
}

fn findings(source: &Source) -> Findings {
    let mut f = Findings::default();
    for item in &source.file.items {
        f.visit_item(item);
    }
    f
}

/// The module a `crate::`/`super::`/`self::` path points into: the longest known prefix.
fn target(
    from: &[String],
    path: &[String],
    modules: &BTreeSet<Vec<String>>,
) -> Option<Vec<String>> {
    let mut absolute: Vec<String> = match path.first()?.as_str() {
        "crate" => Vec::new(),
        "super" => from[..from.len().saturating_sub(1)].to_vec(),
        "self" => from.to_vec(),
        _ => return None,
    };
    let mut rest = &path[1..];
    while rest.first().is_some_and(|s| s == "super") {
        absolute.pop();
        rest = &rest[1..];
    }
    absolute.extend(rest.iter().cloned());
    (0..=absolute.len())
        .rev()
        .map(|n| absolute[..n].to_vec())
        .find(|prefix| modules.contains(prefix))
}

fn is_ancestor(a: &[String], b: &[String]) -> bool {
    a.len() < b.len() && b.starts_with(a)
}

/// Edges between modules of one crate, leaving out a module's links to its own ancestors
/// and descendants (a parent declares and re-exports its children).
fn module_edges(sources: &[&Source]) -> BTreeMap<Vec<String>, BTreeSet<Vec<String>>> {
    let modules: BTreeSet<Vec<String>> = sources.iter().map(|s| s.module.clone()).collect();
    let mut edges: BTreeMap<Vec<String>, BTreeSet<Vec<String>>> = BTreeMap::new();
    for source in sources {
        let out = edges.entry(source.module.clone()).or_default();
        for path in findings(source).paths {
            let Some(to) = target(&source.module, &path, &modules) else {
                continue;
            };
            let related = to == source.module
                || is_ancestor(&to, &source.module)
                || is_ancestor(&source.module, &to);
            if !related {
                out.insert(to);
            }
        }
    }
    edges
}

/// The strongly connected components with more than one member (Tarjan).
fn cycles<N: Ord + Clone>(edges: &BTreeMap<N, BTreeSet<N>>) -> Vec<Vec<N>> {
    struct State<N> {
        index: BTreeMap<N, usize>,
        low: BTreeMap<N, usize>,
        stack: Vec<N>,
        on_stack: BTreeSet<N>,
        found: Vec<Vec<N>>,
    }
    fn connect<N: Ord + Clone>(n: &N, edges: &BTreeMap<N, BTreeSet<N>>, s: &mut State<N>) {
        let i = s.index.len();
        s.index.insert(n.clone(), i);
        s.low.insert(n.clone(), i);
        s.stack.push(n.clone());
        s.on_stack.insert(n.clone());
        for m in edges.get(n).into_iter().flatten() {
            if !s.index.contains_key(m) {
                connect(m, edges, s);
                let low = s.low[n].min(s.low[m]);
                s.low.insert(n.clone(), low);
            } else if s.on_stack.contains(m) {
                let low = s.low[n].min(s.index[m]);
                s.low.insert(n.clone(), low);
            }
        }
        if s.low[n] == s.index[n] {
            let mut component = Vec::new();
            while let Some(m) = s.stack.pop() {
                s.on_stack.remove(&m);
                let done = &m == n;
                component.push(m);
                if done {
                    break;
                }
            }
            if component.len() > 1 {
                s.found.push(component);
            }
        }
    }
    let mut s = State {
        index: BTreeMap::new(),
        low: BTreeMap::new(),
        stack: Vec::new(),
        on_stack: BTreeSet::new(),
        found: Vec::new(),
    };
    for n in edges.keys() {
        if !s.index.contains_key(n) {
            connect(n, edges, &mut s);
        }
    }
    s.found
}

/// The same edges between top-level modules only (`store::windows` is `store`).
fn top_level(
    edges: &BTreeMap<Vec<String>, BTreeSet<Vec<String>>>,
) -> BTreeMap<String, BTreeSet<String>> {
    let head = |m: &Vec<String>| m.first().cloned().unwrap_or_else(|| "(root)".into());
    let mut out: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for (from, tos) in edges {
        let entry = out.entry(head(from)).or_default();
        entry.extend(tos.iter().map(head).filter(|to| *to != head(from)));
    }
    out
}

fn library_sources<'a>(all: &'a [Source], krate: &str) -> Vec<&'a Source> {
    all.iter()
        .filter(|s| s.krate == krate)
        // Binaries are crates of their own: `main` and `bin/`.
        .filter(|s| !matches!(s.module.first().map(String::as_str), Some("main" | "bin")))
        .collect()
}

#[test]
fn no_module_imports_create_a_cycle() {
    let all = sources();
    let mut problems = Vec::new();
    for krate in [
        "outflow",
        "outflow_ingest",
        "outflow_sender",
        "outflow_aggregator",
        "outflow_api",
        "outflow_local",
    ] {
        let edges = module_edges(&library_sources(&all, krate));
        for cycle in cycles(&edges) {
            let names: Vec<String> = cycle.iter().map(|m| m.join("::")).collect();
            problems.push(format!("{krate}: {}", names.join(" <-> ")));
        }
        let top = top_level(&edges);
        for cycle in cycles(&top) {
            problems.push(format!("{krate} (top level): {}", cycle.join(" <-> ")));
        }
        if krate == "outflow" {
            println!("The common crate's modules and what each imports:");
            for (from, tos) in &top {
                let tos: Vec<&str> = tos.iter().map(String::as_str).collect();
                println!("  {from:<11} -> {}", tos.join(", "));
            }
        }
    }
    assert!(
        problems.is_empty(),
        "import cycles:\n{}",
        problems.join("\n")
    );
}

#[test]
fn aws_sdk_types_stay_in_their_adapters() {
    // Which modules of the common crate may name each SDK; the function crates name none.
    let allowed: [(&str, &[&str]); 5] = [
        ("aws_sdk_dynamodb", &["store", "clients"]),
        ("serde_dynamo", &["store"]),
        ("aws_sdk_sqs", &["queue", "clients"]),
        ("aws_sdk_sesv2", &["notify", "clients"]),
        ("aws_config", &["clients"]),
    ];
    let mut problems = Vec::new();
    for source in sources()
        .iter()
        .filter(|s| s.krate != "outflow_local" && s.krate != "outflow_benches")
    {
        let top = source.module.first().map(String::as_str).unwrap_or("");
        for path in findings(source).paths {
            let Some(first) = path.first() else { continue };
            for (sdk, modules) in allowed {
                let ok = source.krate == "outflow" && modules.contains(&top);
                if first == sdk && !ok {
                    problems.push(format!("{} names {}", source.name(), path.join("::")));
                }
            }
        }
    }
    problems.dedup();
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}

#[test]
fn only_the_clock_reads_the_system_time() {
    let mut problems = Vec::new();
    for source in sources() {
        if source.path.ends_with("shared/src/clock.rs") {
            continue;
        }
        for path in findings(&source).paths {
            let reads = path
                .windows(2)
                .any(|w| matches!(w[0].as_str(), "Utc" | "Local" | "SystemTime") && w[1] == "now");
            if reads {
                problems.push(format!("{} calls {}", source.name(), path.join("::")));
            }
        }
    }
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}

#[test]
fn no_function_outside_tests_is_longer_than_sixty_lines() {
    let mut all: Vec<(usize, String)> = Vec::new();
    for source in sources() {
        for (name, line, len) in findings(&source).functions {
            let at = source
                .path
                .strip_prefix(root())
                .unwrap()
                .display()
                .to_string();
            all.push((len, format!("{at}:{line} {name}")));
        }
    }
    all.sort();
    let (longest, at) = all.last().cloned().unwrap();
    println!("longest function: {at}, {longest} lines");
    let over: Vec<String> = all
        .iter()
        .filter(|(len, _)| *len > MAX_FUNCTION_LINES)
        .map(|(len, at)| format!("{at}: {len} lines"))
        .collect();
    assert!(over.is_empty(), "{}", over.join("\n"));
}

#[test]
fn every_route_of_the_functions_is_built_with_routes_and_documented() {
    let mut problems = Vec::new();
    for source in sources().iter().filter(|s| {
        s.krate.starts_with("outflow_")
            && s.krate != "outflow_local"
            && s.krate != "outflow_benches"
    }) {
        if findings(source).methods.iter().any(|m| m == "route") {
            problems.push(format!(
                "{} adds a route with `.route`: use `routes!` so the OpenAPI document has it",
                source.name()
            ));
        }
    }
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}
