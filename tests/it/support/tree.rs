//! Directory trees as maps (file name → bytes), copied and compared.

use std::collections::BTreeMap;
use std::fs;
use std::path::Path;

/// Every regular file under `dir` (relative name → bytes).
pub fn tree(dir: &Path) -> BTreeMap<String, Vec<u8>> {
    let mut out = BTreeMap::new();
    if let Ok(entries) = fs::read_dir(dir) {
        for e in entries.flatten() {
            let name = e.file_name().to_string_lossy().into_owned();
            if e.file_type().unwrap().is_file() {
                out.insert(name, fs::read(e.path()).unwrap());
            }
        }
    }
    out
}

pub fn copy_dir(from: &Path, to: &Path) {
    fs::create_dir_all(to).unwrap();
    for (name, bytes) in tree(from) {
        fs::write(to.join(name), bytes).unwrap();
    }
}

/// Asserts two trees are equal, naming the first differing file and line.
pub fn assert_same_tree(actual: &Path, expected: &Path) {
    let a = tree(actual);
    let e = tree(expected);
    let an: Vec<_> = a.keys().collect();
    let en: Vec<_> = e.keys().collect();
    assert_eq!(
        an,
        en,
        "file names differ between {} and {}",
        actual.display(),
        expected.display()
    );
    for (name, bytes) in &e {
        let got = &a[name];
        if got != bytes {
            let gl: Vec<_> = got.split(|b| *b == b'\n').collect();
            let el: Vec<_> = bytes.split(|b| *b == b'\n').collect();
            let i = gl
                .iter()
                .zip(&el)
                .position(|(g, e)| g != e)
                .unwrap_or(gl.len().min(el.len()));
            panic!(
                "{name} differs at line {}:\n  got:      {:?}\n  expected: {:?}",
                i + 1,
                gl.get(i).map(|l| String::from_utf8_lossy(l)),
                el.get(i).map(|l| String::from_utf8_lossy(l))
            );
        }
    }
}
