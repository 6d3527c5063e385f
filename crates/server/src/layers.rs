//! The layer check: every module of this crate imports only from its own layer or the layers
//! below it, as the crate docs list them, and no two modules import each other in a circle.
//! It reads the source files, so a new module or an upward `use` fails `cargo test` (and with
//! it `make test`) at once, naming the file and the import.
//!
//! What counts as an import: every `crate::name` path and every name of a `crate::{a, b}`
//! group, outside comments and before the file's `#[cfg(test)]` module (tests may reach
//! anywhere, as the integration tests do). `super::` paths stay inside their module folder.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

/// This file, whose test inputs are full of `crate::` paths.
const SELF: &str = "layers";

/// The layers as `lib.rs` lists them: the doc lines after the one starting with `Layers`, up
/// to the next blank doc line, each naming its modules in backticks before a `:` and a
/// description, the top layer first.
/// `routes/*` stands for the `routes` folder.
fn declared_layers(lib: &str) -> Vec<Vec<String>> {
    let mut layers = Vec::new();
    let mut inside = false;
    for line in lib.lines() {
        let Some(doc) = line.strip_prefix("//!") else {
            continue;
        };
        let doc = doc.trim();
        if doc.starts_with("Layers") {
            inside = true;
            continue;
        }
        if inside {
            if doc.is_empty() {
                break;
            }
            // The names are the backticked words before the first `:` outside backticks;
            // the description after it is free text.
            let mut names = Vec::new();
            for (i, part) in doc.split('`').enumerate() {
                if i % 2 == 1 {
                    names.push(part.trim_end_matches("/*").to_owned());
                } else if part.contains(':') {
                    break;
                }
            }
            layers.push(names);
        }
    }
    layers
}

/// Every `.rs` file under `dir` as (top-level module, text), `lib.rs`, `main.rs` and this
/// file left out.
fn sources(dir: &Path, top: Option<&str>, out: &mut Vec<(String, String)>) -> std::io::Result<()> {
    for entry in std::fs::read_dir(dir)? {
        let path = entry?.path();
        let name = path
            .file_stem()
            .and_then(|s| s.to_str())
            .unwrap_or_default()
            .to_owned();
        if path.is_dir() {
            sources(&path, Some(top.unwrap_or(&name)), out)?;
        } else if path.extension().is_some_and(|e| e == "rs") {
            let module = top.unwrap_or(&name).to_owned();
            if top.is_none() && ["lib", "main", SELF].contains(&name.as_str()) {
                continue;
            }
            out.push((module, std::fs::read_to_string(&path)?));
        }
    }
    Ok(())
}

/// The code of a file that the check reads: without comments and without the test module.
fn code(text: &str) -> String {
    let mut out = String::new();
    for line in text.lines() {
        let trimmed = line.trim_start();
        if trimmed.starts_with("#[cfg(test)]") {
            break;
        }
        if trimmed.starts_with("//") {
            continue;
        }
        // A trailing comment (`x; // see crate::y`); `//` inside a string is rare enough in
        // this crate that cutting there loses nothing the check needs.
        let line = line.split_once("//").map_or(line, |(code, _)| code);
        out.push_str(line);
        out.push('\n');
    }
    out
}

/// The top-level modules a file names through `crate::` paths, `crate::{a, b::c}` groups
/// included.
fn imports(text: &str) -> BTreeSet<String> {
    let text = code(text);
    let mut found = BTreeSet::new();
    for (at, _) in text.match_indices("crate::") {
        // `pollux_crate::...` and the like are other crates.
        let before = text[..at].chars().next_back();
        if before.is_some_and(|c| c.is_alphanumeric() || c == '_') {
            continue;
        }
        let rest = &text[at + "crate::".len()..];
        if let Some(group) = rest.strip_prefix('{') {
            found.extend(group_heads(group));
        } else if let Some(name) = ident(rest) {
            found.insert(name);
        }
    }
    found
}

/// The first segment of each item of a `{...}` group (its text after the `{`), nested groups
/// skipped.
fn group_heads(group: &str) -> Vec<String> {
    let mut heads = Vec::new();
    let mut depth = 0usize;
    let mut item_start = true;
    for (i, c) in group.char_indices() {
        match c {
            '{' => depth += 1,
            '}' if depth == 0 => break,
            '}' => depth -= 1,
            ',' if depth == 0 => item_start = true,
            c if item_start && !c.is_whitespace() => {
                item_start = false;
                if let Some(name) = ident(&group[i..]).filter(|n| n != "self") {
                    heads.push(name);
                }
            }
            _ => {}
        }
    }
    heads
}

fn ident(text: &str) -> Option<String> {
    let name: String = text
        .chars()
        .take_while(|c| c.is_alphanumeric() || *c == '_')
        .collect();
    (!name.is_empty()).then_some(name)
}

/// What is wrong with `files` (module, text) under `layers`: modules the list does not name,
/// imports from a higher layer, and circles of imports. Empty when all is well.
fn check(layers: &[Vec<String>], files: &[(String, String)]) -> Vec<String> {
    let level: BTreeMap<&str, usize> = layers
        .iter()
        .enumerate()
        .flat_map(|(i, names)| names.iter().map(move |n| (n.as_str(), i)))
        .collect();
    let mut problems = Vec::new();
    let mut edges: BTreeMap<&str, BTreeSet<String>> = BTreeMap::new();
    for (module, text) in files {
        let Some(&own) = level.get(module.as_str()) else {
            problems.push(format!("module `{module}` is in no layer of lib.rs's list"));
            continue;
        };
        for target in imports(text) {
            if target == *module {
                continue;
            }
            match level.get(target.as_str()) {
                None => problems.push(format!(
                    "`{module}` imports `crate::{target}`, which is in no layer"
                )),
                Some(&theirs) if theirs < own => problems.push(format!(
                    "`{module}` (layer {}) imports `crate::{target}` from the higher layer {}",
                    own + 1,
                    theirs + 1
                )),
                Some(_) => {}
            }
            edges.entry(module).or_default().insert(target);
        }
    }
    if let Some(circle) = find_cycle(&edges) {
        problems.push(format!(
            "modules import each other in a circle: {}",
            circle.join(" → ")
        ));
    }
    problems
}

/// One circle of the import graph, as the modules along it (the first repeated at the end).
fn find_cycle(edges: &BTreeMap<&str, BTreeSet<String>>) -> Option<Vec<String>> {
    fn visit(
        node: &str,
        edges: &BTreeMap<&str, BTreeSet<String>>,
        path: &mut Vec<String>,
        done: &mut BTreeSet<String>,
    ) -> Option<Vec<String>> {
        if let Some(at) = path.iter().position(|p| p == node) {
            let mut circle = path[at..].to_vec();
            circle.push(node.to_owned());
            return Some(circle);
        }
        if done.contains(node) {
            return None;
        }
        path.push(node.to_owned());
        for next in edges.get(node).into_iter().flatten() {
            if let Some(circle) = visit(next, edges, path, done) {
                return Some(circle);
            }
        }
        path.pop();
        done.insert(node.to_owned());
        None
    }
    let mut done = BTreeSet::new();
    edges
        .keys()
        .find_map(|start| visit(start, edges, &mut Vec::new(), &mut done))
}

#[test]
fn this_crate_imports_only_downward() -> std::io::Result<()> {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let layers = declared_layers(&std::fs::read_to_string(src.join("lib.rs"))?);
    assert!(layers.len() > 3, "lib.rs lists the layers: {layers:?}");
    let mut files = Vec::new();
    sources(&src, None, &mut files)?;
    let problems = check(&layers, &files);
    assert!(problems.is_empty(), "{}", problems.join("\n"));
    // Every listed module exists, so the list cannot rot.
    let present: BTreeSet<&str> = files.iter().map(|(m, _)| m.as_str()).collect();
    for name in layers.iter().flatten() {
        assert!(
            present.contains(name.as_str()),
            "lib.rs lists `{name}`, which has no file"
        );
    }
    Ok(())
}

/// The check of the real crate catches an upward import written into it.
#[test]
fn an_upward_import_in_this_crate_would_fail() -> std::io::Result<()> {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let layers = declared_layers(&std::fs::read_to_string(src.join("lib.rs"))?);
    let mut files = Vec::new();
    sources(&src, None, &mut files)?;
    for (module, text) in &mut files {
        if module == "metrics" {
            text.insert_str(0, "use crate::state::AppState;\n");
        }
    }
    let problems = check(&layers, &files);
    assert_eq!(problems.len(), 2, "{problems:?}");
    assert_eq!(
        problems[0],
        "`metrics` (layer 6) imports `crate::state` from the higher layer 3"
    );
    // Where the circle is reported from depends on the paths from `state` back to `metrics`
    // (through `keys`, `shared`, `inspect`, ...): it goes through `metrics → state`.
    let circle = problems[1]
        .strip_prefix("modules import each other in a circle: ")
        .unwrap_or_default();
    let first = circle.split(" → ").next().unwrap_or_default();
    assert!(
        circle.contains("metrics → state") && circle.ends_with(&format!(" → {first}")),
        "{problems:?}"
    );
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    const LIB: &str = "//! Intro.\n//!\n//! Layers, top first:\n//! 1. `app`: root, not `routes`\n//! 2. `routes/*`\n//! 3. `upstream`, `observe`\n//! 4. `error`\n//!\n//! More.\n";

    fn files(list: &[(&str, &str)]) -> Vec<(String, String)> {
        list.iter()
            .map(|(m, t)| ((*m).to_owned(), (*t).to_owned()))
            .collect()
    }

    #[test]
    fn the_list_is_read_from_the_docs() {
        let layers = declared_layers(LIB);
        assert_eq!(
            layers,
            [
                vec!["app"],
                vec!["routes"],
                vec!["upstream", "observe"],
                vec!["error"]
            ]
        );
    }

    #[test]
    fn imports_are_paths_and_groups_outside_comments_and_tests() {
        let text = "use crate::a::X;\nuse crate::{b, c::{D, E}, self};\nlet y = crate::d::f();\n\
                    use pollux_crate::z;\n// crate::commented\nx(); // crate::trailing\n\
                    #[cfg(test)]\nmod tests { use crate::in_tests; }\n";
        let found: Vec<String> = imports(text).into_iter().collect();
        assert_eq!(found, ["a", "b", "c", "d"]);
    }

    #[test]
    fn downward_imports_pass() {
        let ok = files(&[
            ("app", "use crate::routes::x;\nuse crate::error::E;"),
            ("routes", "use crate::{upstream::U, error::E};"),
            ("upstream", "use crate::observe::T;"),
            ("observe", "use crate::error::E;"),
            ("error", ""),
        ]);
        assert_eq!(check(&declared_layers(LIB), &ok), Vec::<String>::new());
    }

    #[test]
    fn an_upward_import_fails() {
        let bad = files(&[
            ("app", ""),
            ("upstream", "use crate::{error, app::AppState};"),
        ]);
        let problems = check(&declared_layers(LIB), &bad);
        assert_eq!(
            problems,
            ["`upstream` (layer 3) imports `crate::app` from the higher layer 1"]
        );
    }

    #[test]
    fn a_circle_within_a_layer_fails() {
        let bad = files(&[
            ("upstream", "use crate::observe::T;"),
            ("observe", "fn f() { crate::upstream::g() }"),
        ]);
        let problems = check(&declared_layers(LIB), &bad);
        assert_eq!(
            problems,
            ["modules import each other in a circle: observe → upstream → observe"]
        );
    }

    #[test]
    fn unlisted_modules_fail() {
        let bad = files(&[("stray", ""), ("app", "use crate::stray::S;")]);
        let problems = check(&declared_layers(LIB), &bad);
        assert_eq!(
            problems,
            [
                "module `stray` is in no layer of lib.rs's list",
                "`app` imports `crate::stray`, which is in no layer"
            ]
        );
    }
}
