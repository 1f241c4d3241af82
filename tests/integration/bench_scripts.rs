//! The benchmark tools BENCHMARKS.md names keep working as the code changes.

use std::path::Path;
use std::process::Command;

/// `scripts/commit-bounds` builds its bounds binary from HEAD with this patch applied: a
/// change to the sled store that the patch no longer fits must update the patch too, or
/// the bounds and settings in BENCHMARKS.md could no longer be measured again.
#[test]
fn the_commit_bounds_patch_applies_to_the_store_as_it_is() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let out = Command::new("git")
        .args(["apply", "--check", "scripts/commit-bounds.patch"])
        .current_dir(root)
        .output()
        .expect("git runs");
    assert!(
        out.status.success(),
        "scripts/commit-bounds.patch does not apply: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}
