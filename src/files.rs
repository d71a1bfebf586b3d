//! Reading the operator's small files (config, calibration, token, labels, pipeline files)
//! safely: a regular file only (not a FIFO that never answers, not `/dev/zero`), opened without
//! blocking, at most a stated size, and errors that quote at most a short excerpt of what was
//! read. Imports nothing of ours.
use std::io::Read;
use std::path::Path;

/// Longest excerpt of a file's content an error message quotes.
pub const EXCERPT_CHARS: usize = 200;

/// Why a small file could not be read.
#[derive(Debug, thiserror::Error)]
pub enum SmallFileError {
    #[error("{0}")]
    Io(#[from] std::io::Error),
    #[error("not a regular file ({0}): give the path of a file")]
    NotRegular(&'static str),
    #[error("{size} bytes, more than the {max} a {what} may have")]
    TooLarge {
        size: u64,
        max: u64,
        what: &'static str,
    },
    #[error("not UTF-8 text")]
    NotText,
}

/// What a file's type is, in words, when it is not a regular file.
fn kind_of(meta: &std::fs::Metadata) -> Option<&'static str> {
    let t = meta.file_type();
    if t.is_file() {
        return None;
    }
    #[cfg(unix)]
    {
        use std::os::unix::fs::FileTypeExt;
        if t.is_fifo() {
            return Some("a FIFO");
        }
        if t.is_char_device() {
            return Some("a character device");
        }
        if t.is_block_device() {
            return Some("a block device");
        }
        if t.is_socket() {
            return Some("a socket");
        }
    }
    if t.is_dir() {
        return Some("a folder");
    }
    Some("not a plain file")
}

/// Open `path` for reading without blocking (a FIFO with no writer would block `open`) and
/// check that what was opened is a regular file of at most `max` bytes.
pub fn open_regular(
    path: &Path,
    max: u64,
    what: &'static str,
) -> Result<std::fs::File, SmallFileError> {
    let mut opts = std::fs::OpenOptions::new();
    opts.read(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        opts.custom_flags(libc::O_NONBLOCK);
    }
    let f = opts.open(path)?;
    check_regular(&f, max, what)?;
    Ok(f)
}

/// The UTF-8 text of the regular file `path`, at most `max` bytes (a file that grows past
/// `max` while read is refused too).
pub fn read_text(path: &Path, max: u64, what: &'static str) -> Result<String, SmallFileError> {
    read_opened(open_regular(path, max, what)?, max, what)
}

/// Open the file `path` names below the folder `root` without following any symbolic link
/// below `root`: each folder on the way is opened relative to the one before it
/// (`openat`, `O_NOFOLLOW`), so a path swapped for a link between a check and a read cannot
/// lead outside. `path` must be absolute and lie lexically under `root` (as given, or
/// resolved); `.` and `..` are refused. What is opened is checked afterwards by the caller
/// (e.g. [`open_regular`]'s rules through [`check_regular`]).
#[cfg(unix)]
pub fn open_beneath(root: &Path, path: &Path) -> std::io::Result<std::fs::File> {
    use std::ffi::CString;
    use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
    use std::os::unix::ffi::OsStrExt;
    use std::path::Component;
    let refuse =
        |why: &str| std::io::Error::new(std::io::ErrorKind::PermissionDenied, why.to_string());
    let real_root = root.canonicalize()?;
    let rest = path
        .strip_prefix(root)
        .or_else(|_| path.strip_prefix(&real_root))
        .map_err(|_| refuse("not under the folder"))?;
    let parts: Vec<_> = rest.components().collect();
    if parts.is_empty() || !parts.iter().all(|c| matches!(c, Component::Normal(_))) {
        return Err(refuse("not a plain path below the folder"));
    }
    let open_at = |dir: Option<&OwnedFd>, name: &std::ffi::OsStr, flags: i32| {
        let c = CString::new(name.as_bytes()).map_err(|_| refuse("a NUL in the path"))?;
        let at = dir.map_or(libc::AT_FDCWD, |d| d.as_raw_fd());
        // SAFETY: a valid NUL-terminated name and a directory descriptor we own (or AT_FDCWD).
        let fd = unsafe { libc::openat(at, c.as_ptr(), flags | libc::O_CLOEXEC) };
        if fd < 0 {
            return Err(std::io::Error::last_os_error());
        }
        // SAFETY: fd was just returned by openat and is owned by nobody else.
        Ok(unsafe { OwnedFd::from_raw_fd(fd) })
    };
    let mut dir = open_at(
        None,
        real_root.as_os_str(),
        libc::O_RDONLY | libc::O_DIRECTORY,
    )?;
    let (last, folders) = parts.split_last().expect("not empty");
    for c in folders {
        dir = open_at(
            Some(&dir),
            c.as_os_str(),
            libc::O_RDONLY | libc::O_DIRECTORY | libc::O_NOFOLLOW,
        )?;
    }
    let fd = open_at(
        Some(&dir),
        last.as_os_str(),
        libc::O_RDONLY | libc::O_NOFOLLOW | libc::O_NONBLOCK,
    )?;
    Ok(std::fs::File::from(fd))
}

/// Check that an opened file is a regular file of at most `max` bytes.
pub fn check_regular(
    f: &std::fs::File,
    max: u64,
    what: &'static str,
) -> Result<(), SmallFileError> {
    let meta = f.metadata()?;
    if let Some(kind) = kind_of(&meta) {
        return Err(SmallFileError::NotRegular(kind));
    }
    if meta.len() > max {
        return Err(SmallFileError::TooLarge {
            size: meta.len(),
            max,
            what,
        });
    }
    Ok(())
}

/// The text of an opened regular file, at most `max` bytes.
pub fn read_opened(
    f: std::fs::File,
    max: u64,
    what: &'static str,
) -> Result<String, SmallFileError> {
    check_regular(&f, max, what)?;
    let mut bytes = Vec::new();
    f.take(max + 1).read_to_end(&mut bytes)?;
    if bytes.len() as u64 > max {
        return Err(SmallFileError::TooLarge {
            size: bytes.len() as u64,
            max,
            what,
        });
    }
    String::from_utf8(bytes).map_err(|_| SmallFileError::NotText)
}

/// `message` cut to its first [`EXCERPT_CHARS`] characters on each line and its first 12
/// lines, so that an error about a huge or binary file stays readable.
pub fn excerpt(message: &str) -> String {
    let mut out = String::new();
    for (i, line) in message.lines().enumerate() {
        if i == 12 {
            out.push_str("\n…");
            break;
        }
        if i > 0 {
            out.push('\n');
        }
        let mut chars = line.chars();
        let head: String = chars.by_ref().take(EXCERPT_CHARS).collect();
        out.extend(
            head.chars()
                .map(|c| if c.is_control() { '\u{fffd}' } else { c }),
        );
        if chars.next().is_some() {
            out.push('…');
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn devices_fifos_folders_and_large_files_are_refused_at_once() {
        let dir = tempfile::tempdir().unwrap();
        let err = |p: &Path| read_text(p, 1024, "config").unwrap_err().to_string();
        assert!(err(Path::new("/dev/zero")).contains("character device"));
        assert!(err(dir.path()).contains("folder"));
        let big = dir.path().join("big");
        std::fs::write(&big, vec![b'a'; 2000]).unwrap();
        assert!(err(&big).contains("2000 bytes, more than the 1024"));
        #[cfg(unix)]
        {
            let fifo = dir.path().join("fifo");
            let c = std::ffi::CString::new(fifo.to_str().unwrap()).unwrap();
            // SAFETY: a valid NUL-terminated path.
            assert_eq!(unsafe { libc::mkfifo(c.as_ptr(), 0o600) }, 0);
            let t0 = std::time::Instant::now();
            assert!(err(&fifo).contains("FIFO"));
            assert!(t0.elapsed() < std::time::Duration::from_secs(1));
        }
        let ok = dir.path().join("ok");
        std::fs::write(&ok, "a = 1\n").unwrap();
        assert_eq!(read_text(&ok, 1024, "config").unwrap(), "a = 1\n");
    }

    #[cfg(unix)]
    #[test]
    fn open_beneath_follows_no_link_below_the_root() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().join("allowed");
        let outside = dir.path().join("outside");
        std::fs::create_dir_all(root.join("real")).unwrap();
        std::fs::create_dir_all(&outside).unwrap();
        std::fs::write(root.join("real/p.txt"), "inside").unwrap();
        std::fs::write(outside.join("p.txt"), "outside").unwrap();
        std::os::unix::fs::symlink(&outside, root.join("sw")).unwrap();
        std::os::unix::fs::symlink(outside.join("p.txt"), root.join("l.txt")).unwrap();
        let read = |p: &Path| open_beneath(&root, p).map(|f| read_opened(f, 100, "file").unwrap());
        assert_eq!(read(&root.join("real/p.txt")).unwrap(), "inside");
        assert!(read(&root.join("sw/p.txt")).is_err(), "a linked folder");
        assert!(read(&root.join("l.txt")).is_err(), "a linked file");
        assert!(read(&root.join("real/../sw/p.txt")).is_err(), "..");
        assert!(read(&outside.join("p.txt")).is_err(), "outside");
    }

    #[test]
    fn an_excerpt_is_short_and_printable() {
        let long = format!("{}\n{}", "x".repeat(10_000), "\0\0\0");
        let e = excerpt(&long);
        assert!(e.chars().count() < EXCERPT_CHARS + 10, "{e}");
        assert!(!e.contains('\0'));
    }
}
