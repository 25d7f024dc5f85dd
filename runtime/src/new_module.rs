//! `modhost new <name> --lang rust|python|js`: a module that builds with
//! `just guests` and answers `GET /<name>/hello` as it is, made from the
//! templates under runtime/templates/, and the `runtime.toml` lines that
//! deploy it. A Rust module joins the modules folder's cargo workspace, as
//! `cargo new` does.

use std::path::{Component, Path, PathBuf};

use anyhow::{Context, Result, bail};

use crate::config::check_module_name;

/// The language of a new module.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Language {
    /// Rust with modhost-sdk (guest-sdk/).
    Rust,
    /// Python with guest-sdk/python, built by componentize-py.
    Python,
    /// JavaScript with guest-sdk/js, built by componentize-js.
    Js,
}

/// What `modhost new` made.
#[derive(Debug)]
pub struct NewModule {
    /// The module's folder.
    pub folder: PathBuf,
    /// The `[modules.<name>]` table that deploys it once built.
    pub config_lines: String,
}

/// Makes module `name` in `language` under `modules` (a folder inside a
/// modhost checkout, `guest-modules` by default).
pub fn create(name: &str, language: Language, modules: &Path) -> Result<NewModule> {
    check_module_name(name).map_err(|why| anyhow::anyhow!("module name {name:?}: {why}"))?;
    let modules = std::fs::canonicalize(modules)
        .with_context(|| format!("cannot find the modules folder {}", modules.display()))?;
    let root = checkout_root(&modules)?;
    let folder = modules.join(name);
    if folder.exists() {
        bail!(
            "{} already exists: pick another name or remove it",
            folder.display()
        );
    }
    let sdk = relative_path(&folder, &root.join("guest-sdk"));
    let route = format!("/{}/hello", name.replace('_', "-"));
    let fill = |template: &str| {
        template
            .replace("{{name}}", name)
            .replace("{{route}}", &route)
            .replace("{{sdk}}", &sdk)
            .replace("{{description}}", &format!("The {name} module"))
    };
    let files: Vec<(&str, &str)> = match language {
        Language::Rust => vec![
            ("Cargo.toml", include_str!("../templates/rust/Cargo.toml")),
            ("src/lib.rs", include_str!("../templates/rust/lib.rs")),
        ],
        Language::Python => vec![("app.py", include_str!("../templates/python/app.py"))],
        Language::Js => vec![("app.js", include_str!("../templates/js/app.js"))],
    };
    if language == Language::Rust {
        join_workspace(&modules.join("Cargo.toml"), name)?;
    }
    for (file, template) in files {
        let path = folder.join(file);
        std::fs::create_dir_all(path.parent().expect("a file in the folder"))
            .with_context(|| format!("cannot make {}", folder.display()))?;
        std::fs::write(&path, fill(template))
            .with_context(|| format!("cannot write {}", path.display()))?;
    }
    // Cargo names a Rust component after its library: `-` becomes `_`.
    let file = match language {
        Language::Rust => name.replace('-', "_"),
        Language::Python | Language::Js => name.to_string(),
    };
    let memory = match language {
        Language::Rust => String::new(),
        // An interpreter needs more than the 64 MiB default.
        Language::Python | Language::Js => {
            format!("\n[modules.{name}.limits]\nmemory_bytes = 268435456\n")
        }
    };
    Ok(NewModule {
        folder,
        config_lines: format!(
            "[modules.{name}]\npath = \"target/guests/{file}.wasm\"\ngrants = []\n{memory}"
        ),
    })
}

/// The modhost checkout `folder` is in: the nearest folder above it with
/// `guest-sdk/` and `wit/module.wit`.
fn checkout_root(folder: &Path) -> Result<PathBuf> {
    folder
        .ancestors()
        .find(|dir| dir.join("guest-sdk").is_dir() && dir.join("wit/module.wit").is_file())
        .map(Path::to_path_buf)
        .ok_or_else(|| {
            anyhow::anyhow!(
                "{} is not inside a modhost checkout (no guest-sdk/ and wit/module.wit above it): run modhost new there, or give --dir a folder inside one",
                folder.display()
            )
        })
}

/// `to` relative to `from` (both absolute), with `/` separators.
fn relative_path(from: &Path, to: &Path) -> String {
    let from: Vec<Component> = from.components().collect();
    let to: Vec<Component> = to.components().collect();
    let common = from.iter().zip(&to).take_while(|(a, b)| a == b).count();
    let ups = std::iter::repeat_n("..".to_string(), from.len() - common);
    let downs = to[common..]
        .iter()
        .map(|part| part.as_os_str().to_string_lossy().into_owned());
    ups.chain(downs).collect::<Vec<_>>().join("/")
}

/// Adds `name` to the members of the cargo workspace at `manifest`,
/// keeping the file's layout and comments.
fn join_workspace(manifest: &Path, name: &str) -> Result<()> {
    let text = std::fs::read_to_string(manifest).with_context(|| {
        format!(
            "cannot read {}: a Rust module is made in a folder with a cargo workspace (guest-modules/)",
            manifest.display()
        )
    })?;
    let mut document: toml_edit::DocumentMut = text
        .parse()
        .with_context(|| format!("{} is not valid TOML", manifest.display()))?;
    let members = document
        .get_mut("workspace")
        .and_then(|workspace| workspace.get_mut("members"))
        .and_then(|members| members.as_array_mut())
        .ok_or_else(|| {
            anyhow::anyhow!(
                "{} has no [workspace] members list to add {name} to",
                manifest.display()
            )
        })?;
    members.push(name);
    std::fs::write(manifest, document.to_string())
        .with_context(|| format!("cannot write {}", manifest.display()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn relative_paths_climb_then_descend() {
        let path = |from: &str, to: &str| relative_path(Path::new(from), Path::new(to));
        assert_eq!(
            path("/r/guest-modules/m", "/r/guest-sdk"),
            "../../guest-sdk"
        );
        assert_eq!(path("/r/a/b/c", "/r/guest-sdk"), "../../../guest-sdk");
    }

    #[test]
    fn a_rust_module_joins_the_workspace_keeping_its_comments() {
        let dir = tempfile::tempdir().unwrap();
        let manifest = dir.path().join("Cargo.toml");
        std::fs::write(
            &manifest,
            "# the guests\n[workspace]\nmembers = [\"a\", \"fixtures/*\"]\n",
        )
        .unwrap();
        join_workspace(&manifest, "b").unwrap();
        let text = std::fs::read_to_string(&manifest).unwrap();
        assert!(text.starts_with("# the guests\n"), "{text}");
        assert!(
            text.contains(r#"members = ["a", "fixtures/*", "b"]"#),
            "{text}"
        );
    }
}
