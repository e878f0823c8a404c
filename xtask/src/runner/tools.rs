//! Finding the tools a step needs, and saying how to get the missing ones.

use std::os::unix::fs::PermissionsExt as _;
use std::path::{Path, PathBuf};

/// Where `program` is on `PATH`, or `None`. A program given as a path (with a
/// `/`) is checked where it is.
pub fn which(program: &str) -> Option<PathBuf> {
    if program.is_empty() {
        return None;
    }
    if program.contains('/') {
        let path = Path::new(program);
        return is_executable(path).then(|| path.to_path_buf());
    }
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        // An empty entry means the current folder, as for the shell.
        .map(|dir| {
            if dir.as_os_str().is_empty() {
                PathBuf::from(".")
            } else {
                dir
            }
        })
        .map(|dir| dir.join(program))
        .find(|candidate| is_executable(candidate))
}

fn is_executable(path: &Path) -> bool {
    path.metadata()
        .is_ok_and(|meta| meta.is_file() && meta.permissions().mode() & 0o111 != 0)
}

/// How to install a tool, after the runbook's notes.
pub fn install_hint(tool: &str) -> &'static str {
    match tool {
        "dpkg-deb" | "dpkg" => {
            "part of dpkg: on macOS `brew install dpkg`, on Debian/Ubuntu `apt-get install dpkg`"
        }
        "openstack" => {
            "`pip3 install python-openstackclient` (if pip says \"Cannot uninstall 'six'\": \
             `pip3 install python-openstackclient --ignore-installed six --user`)"
        }
        "packer" => {
            "HashiCorp's packer: https://www.packer.io/docs/install \
             (on Debian/Ubuntu also `apt-get install packer`)"
        }
        "knife" | "chef" => {
            "part of Chef Workstation: https://docs.chef.io/workstation/install_workstation/"
        }
        "vault" => "HashiCorp's vault: https://developer.hashicorp.com/vault/install",
        "make" => "on macOS `xcode-select --install`, on Debian/Ubuntu `apt-get install make`",
        "git" => "on macOS `xcode-select --install` or `brew install git`, on Debian/Ubuntu `apt-get install git`",
        "curl" => "on macOS it comes with the system (`brew install curl`), on Debian/Ubuntu `apt-get install curl`",
        "gzip" => "on macOS it comes with the system, on Debian/Ubuntu `apt-get install gzip`",
        "xz" => "on macOS `brew install xz`, on Debian/Ubuntu `apt-get install xz-utils`",
        "jq" => "on macOS `brew install jq`, on Debian/Ubuntu `apt-get install jq`",
        "gofmt" => {
            "Go's formatter, run by version.sh: on Debian/Ubuntu `apt-get install golang-go`, \
             on macOS `brew install go`"
        }
        "bash" => "on macOS it comes with the system (`brew install bash` for a newer one), on Debian/Ubuntu `apt-get install bash`",
        "awk" => "on macOS it comes with the system, on Debian/Ubuntu `apt-get install mawk` (or gawk)",
        "sed" => "on macOS it comes with the system, on Debian/Ubuntu `apt-get install sed`",
        "grep" => "on macOS it comes with the system, on Debian/Ubuntu `apt-get install grep`",
        "cmp" => "on macOS it comes with the system, on Debian/Ubuntu `apt-get install diffutils`",
        "find" => "on macOS it comes with the system, on Debian/Ubuntu `apt-get install findutils`",
        "tr" | "cat" | "cp" | "mv" | "rm" | "mkdir" | "chmod" | "mktemp" | "basename"
        | "dirname" | "head" | "tail" | "touch" | "md5sum" | "sha1sum" => {
            "part of coreutils: on macOS it comes with the system, on Debian/Ubuntu `apt-get install coreutils`"
        }
        _ => "install it and make sure it is on PATH",
    }
}
