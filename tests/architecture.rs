//! The module graph is a DAG of layers, read from the source: a module imports only modules
//! of lower layers (and itself), and a use case never imports a sibling use case. This test
//! fails when a change adds an upward or sideways import.
//!
//! Layers, lowest first:
//! 0. `domain`, `clock`, `crypto`, `schedule`, `telemetry`: values and pure rules, no I/O.
//! 1. `store`; 2. `email`, `identity`, `limits`, `queue`: the ports and their adapters.
//! 3. `services`: one trait per port, and all of them as one value.
//! 4. `repo`: the records several use cases share (accounts, links and states, sessions).
//! 5. `usecases::*`: one module per use case, none importing another; each declares the ports
//!    it runs against (`crate::ports!`) and takes `&impl Ports`, never the whole `Services`.
//! 6. `flows`: what combines use cases.
//! 7. `http`: the router (the sandbox and the fakes live in crates/sandbox and crates/test-support).
//! 8. `config`; 9. `app`: typed configuration and the wiring built from it.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

fn layer(module: &str) -> Option<u8> {
    Some(match module {
        "domain" | "clock" | "crypto" | "schedule" | "telemetry" => 0,
        "store" => 1,
        "email" | "identity" | "limits" | "queue" => 2,
        "services" => 3,
        "repo" => 4,
        "usecases" => 5,
        "flows" => 6,
        "http" => 7,
        "config" => 8,
        "app" => 9,
        _ => return None,
    })
}

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            rust_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

/// `(top module, use case)` of a file under `src/`, e.g. `("usecases", Some("consent"))`.
fn owner(src: &Path, file: &Path) -> (String, Option<String>) {
    let rel: Vec<String> = file
        .strip_prefix(src)
        .unwrap()
        .with_extension("")
        .iter()
        .map(|c| c.to_string_lossy().into_owned())
        .collect();
    let top = rel[0].clone();
    let sub = (top == "usecases" && rel.len() > 1 && rel[1] != "mod").then(|| rel[1].clone());
    (top, sub)
}

/// `text` with its `//` comments left out, line by line.
fn code(text: &str) -> String {
    text.lines()
        .map(|l| l.split("//").next().unwrap_or_default())
        .collect::<Vec<_>>()
        .join("\n")
}

/// Every `crate::a::b` path in `text` as `(a, b)`, comments left out.
fn crate_paths(text: &str) -> BTreeSet<(String, String)> {
    let mut found = BTreeSet::new();
    for line in code(text).lines() {
        let mut rest = line;
        while let Some(i) = rest.find("crate::") {
            rest = &rest[i + "crate::".len()..];
            let mut parts = rest.split("::").map(|p| {
                p.chars()
                    .take_while(|c| c.is_alphanumeric() || *c == '_')
                    .collect::<String>()
            });
            let a = parts.next().unwrap_or_default();
            let b = parts.next().unwrap_or_default();
            found.insert((a, b));
        }
    }
    found
}

/// The violations of the layering in the crate under `src`.
fn violations(src: &Path) -> Vec<String> {
    let mut files = Vec::new();
    rust_files(src, &mut files);
    let mut bad = Vec::new();
    for file in files {
        let (top, usecase) = owner(src, &file);
        let Some(own) = layer(&top) else {
            continue; // lib.rs, main.rs: the crate root.
        };
        let text = std::fs::read_to_string(&file).unwrap();
        for (a, b) in crate_paths(&text) {
            let Some(theirs) = layer(&a) else { continue };
            let name = file.strip_prefix(src).unwrap().display();
            if a == top {
                if let (Some(mine), "usecases") = (&usecase, a.as_str())
                    && !b.is_empty()
                    && &b != mine
                {
                    bad.push(format!("{name}: use case `{mine}` imports sibling use case `{b}`"));
                }
                continue;
            }
            if theirs >= own {
                bad.push(format!("{name} (layer {own}) imports `{a}` (layer {theirs})"));
            }
        }
    }
    bad
}

#[test]
fn modules_import_only_lower_layers_and_use_cases_no_siblings() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let bad = violations(&src);
    assert!(
        bad.is_empty(),
        "the module graph has upward or sideways imports:\n{}",
        bad.join("\n")
    );
}

#[test]
fn the_check_sees_a_sibling_use_case_and_an_upward_import() {
    let dir = tempfile::tempdir().unwrap();
    let src = dir.path();
    std::fs::create_dir_all(src.join("usecases")).unwrap();
    std::fs::write(
        src.join("usecases/consent.rs"),
        "use crate::usecases::authorization::x;\n",
    )
    .unwrap();
    std::fs::write(src.join("usecases/signup.rs"), "// crate::http::x in a comment\n").unwrap();
    std::fs::write(src.join("repo.rs"), "fn f() { crate::usecases::accounts::g(); }\n").unwrap();
    let bad = violations(src);
    assert_eq!(bad.len(), 2, "{bad:?}");
    assert!(
        bad.iter().any(|b| b.contains("sibling use case `authorization`")),
        "{bad:?}"
    );
    assert!(
        bad.iter().any(|b| b.contains("repo.rs (layer 4) imports `usecases`")),
        "{bad:?}"
    );
}

/// Files under `usecases/` and `repo/` that name the whole [`Services`] instead of declaring
/// the ports they run against (`crate::ports!(...)`, taken as `&impl Ports`).
///
/// [`Services`]: onboarding::services::Services
fn wide_ports(src: &Path) -> Vec<String> {
    let mut bad = Vec::new();
    for dir in ["usecases", "repo"] {
        let mut files = Vec::new();
        rust_files(&src.join(dir), &mut files);
        for file in files {
            let code = code(&std::fs::read_to_string(&file).unwrap());
            let name = file.strip_prefix(src).unwrap().display();
            let names_services = code
                .match_indices("Services")
                .any(|(i, _)| !code[..i].ends_with(|c: char| c.is_alphanumeric() || c == '_'));
            if names_services || code.contains("AppState") {
                bad.push(format!("{name} takes the whole Services"));
            }
            if code.contains("impl Ports") && !code.contains("crate::ports!(") {
                bad.push(format!("{name} takes `impl Ports` without declaring them"));
            }
        }
    }
    bad
}

#[test]
fn use_cases_and_records_take_only_the_ports_they_declare() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let bad = wide_ports(&src);
    assert!(bad.is_empty(), "{}", bad.join("\n"));
}

#[test]
fn the_check_sees_a_use_case_taking_the_whole_services() {
    let dir = tempfile::tempdir().unwrap();
    let src = dir.path();
    std::fs::create_dir_all(src.join("usecases")).unwrap();
    std::fs::create_dir_all(src.join("repo")).unwrap();
    std::fs::write(
        src.join("usecases/signup.rs"),
        "use crate::services::Services;\npub async fn f(s: &Services) {}\n",
    )
    .unwrap();
    std::fs::write(src.join("repo/links.rs"), "pub fn g(s: &impl Ports) {}\n").unwrap();
    std::fs::write(
        src.join("usecases/audit.rs"),
        "// not Services in a comment\ncrate::ports!(HasStore);\npub fn h(s: &impl Ports) {}\n",
    )
    .unwrap();
    let bad = wide_ports(src);
    assert_eq!(
        bad,
        [
            "usecases/signup.rs takes the whole Services",
            "repo/links.rs takes `impl Ports` without declaring them",
        ]
    );
}
