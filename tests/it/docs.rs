//! The docs that are generated must match what they are generated from.

use std::process::Command;

#[test]
fn readme_register_table_matches_the_profile() {
    let out = Command::new(env!("CARGO_BIN_EXE_metertwin"))
        .args(["registers", "--profile", "kpm31"])
        .output()
        .unwrap();
    assert!(out.status.success());
    let generated = String::from_utf8(out.stdout).unwrap();
    let readme =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/README.md")).unwrap();
    let begin = readme
        .find("<!-- registers:begin -->\n")
        .expect("begin marker")
        + "<!-- registers:begin -->\n".len();
    let end = readme.find("<!-- registers:end -->").expect("end marker");
    assert_eq!(
        &readme[begin..end],
        generated,
        "README register table is stale: regenerate it with `metertwin registers`"
    );
}

#[test]
fn check_names_file_line_and_column_and_exits_2() {
    let dir = std::env::temp_dir().join(format!("metertwin-check-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let text = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/profiles/kpm31.toml"))
        .unwrap();
    let bad = text.replacen(
        "pulses_per_kwh = 1600",
        "pulses_per_kwh = 1600\nbogus = 1",
        1,
    );
    let path = dir.join("bad.toml");
    std::fs::write(&path, &bad).unwrap();
    let line = bad.lines().position(|l| l.starts_with("bogus")).unwrap() + 1;
    let out = Command::new(env!("CARGO_BIN_EXE_metertwin"))
        .arg("check")
        .arg(&path)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains(&format!("bad.toml:{line}:1")), "{err}");
    assert!(err.contains("bogus"), "{err}");
    let ok = Command::new(env!("CARGO_BIN_EXE_metertwin"))
        .args([
            "check",
            concat!(env!("CARGO_MANIFEST_DIR"), "/profiles/kpm31c.toml"),
        ])
        .output()
        .unwrap();
    assert_eq!(ok.status.code(), Some(0));
}
