//! Searching files for secret byte strings: where a destroyed key's bytes survive.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

/// Byte strings of one length (at least 2), found in one pass over each file: indexed by
/// their first two bytes, so the pass stays fast in unoptimised test builds.
#[derive(Debug)]
pub struct Needles {
    needles: Vec<Vec<u8>>,
    len: usize,
    by_prefix: HashMap<[u8; 2], Vec<usize>>,
    has_prefix: Vec<bool>,
}

/// How many of the needles a place holds, and how many copies in all.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Found {
    /// Needles found at least once.
    pub needles: usize,
    /// Copies of all needles together.
    pub copies: usize,
}

impl std::fmt::Display for Found {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{:>2} keys, {:>3} copies", self.needles, self.copies)
    }
}

impl Needles {
    /// The needles to look for.
    ///
    /// # Panics
    /// When they are not all of one length of at least 2 bytes.
    pub fn new(needles: Vec<Vec<u8>>) -> Self {
        let len = needles.first().map_or(2, Vec::len);
        assert!(
            len >= 2 && needles.iter().all(|n| n.len() == len),
            "needles must share one length of at least 2 bytes"
        );
        let mut by_prefix: HashMap<[u8; 2], Vec<usize>> = HashMap::new();
        let mut has_prefix = vec![false; 1 << 16];
        for (i, needle) in needles.iter().enumerate() {
            let &[p0, p1, ..] = needle.as_slice() else {
                continue;
            };
            by_prefix.entry([p0, p1]).or_default().push(i);
            if let Some(flag) = has_prefix.get_mut(usize::from(u16::from_be_bytes([p0, p1]))) {
                *flag = true;
            }
        }
        Self {
            needles,
            len,
            by_prefix,
            has_prefix,
        }
    }

    /// How many needles there are.
    pub fn len(&self) -> usize {
        self.needles.len()
    }

    /// Whether there are none.
    pub fn is_empty(&self) -> bool {
        self.needles.is_empty()
    }

    /// Adds the copies of each needle in `haystack` to `per_needle`.
    fn count_in(&self, haystack: &[u8], per_needle: &mut [usize]) {
        for window in haystack.windows(self.len) {
            let &[p0, p1, ..] = window else {
                continue;
            };
            let flagged = self
                .has_prefix
                .get(usize::from(u16::from_be_bytes([p0, p1])))
                .copied()
                .unwrap_or(false);
            if !flagged {
                continue;
            }
            for &i in self.by_prefix.get(&[p0, p1]).into_iter().flatten() {
                if self.needles.get(i).is_some_and(|n| n.as_slice() == window)
                    && let Some(count) = per_needle.get_mut(i)
                {
                    *count += 1;
                }
            }
        }
    }

    /// Searches every regular file under each path (a file or a directory tree; symbolic
    /// links are not followed; a file that vanishes meanwhile, such as a server's temp
    /// file, is skipped).
    ///
    /// # Panics
    /// When a directory cannot be listed.
    pub fn found_in(&self, paths: &[PathBuf]) -> Found {
        let mut per_needle = vec![0; self.needles.len()];
        let mut files = Vec::new();
        for path in paths {
            collect_files(path, &mut files);
        }
        for file in files {
            if let Ok(bytes) = std::fs::read(&file) {
                self.count_in(&bytes, &mut per_needle);
            }
        }
        Found {
            needles: per_needle.iter().filter(|&&n| n > 0).count(),
            copies: per_needle.iter().sum(),
        }
    }
}

fn collect_files(path: &Path, out: &mut Vec<PathBuf>) {
    let Ok(meta) = std::fs::symlink_metadata(path) else {
        return;
    };
    if meta.is_file() {
        out.push(path.to_owned());
    } else if meta.is_dir() {
        let entries = std::fs::read_dir(path)
            .unwrap_or_else(|e| panic!("cannot list {}: {e}", path.display()));
        for entry in entries.flatten() {
            collect_files(&entry.path(), out);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_every_copy_across_files_and_nothing_else() {
        let dir = std::env::temp_dir().join(format!("acsearch{}", std::process::id()));
        std::fs::create_dir_all(dir.join("sub")).unwrap();
        let a = b"0123456789abcdef".to_vec();
        let b = b"0123456789ABCDEF".to_vec();
        let mut first = b"xx".to_vec();
        first.extend_from_slice(&a);
        first.extend_from_slice(&a[..15]);
        first.extend_from_slice(&a);
        std::fs::write(dir.join("one"), &first).unwrap();
        std::fs::write(dir.join("sub/two"), [&b[..], &a[..]].concat()).unwrap();
        std::fs::write(dir.join("short"), &a[..15]).unwrap();
        let needles = Needles::new(vec![a, b, b"0123456789abcdeX".to_vec()]);
        let found = needles.found_in(std::slice::from_ref(&dir));
        std::fs::remove_dir_all(&dir).unwrap();
        assert_eq!(
            found,
            Found {
                needles: 2,
                copies: 4
            }
        );
    }
}
