//! Reading a config file without hanging on what is not a file: the path
//! is opened non-blocking (so a FIFO with no writer does not block the
//! open) and checked with `fstat` before a byte is read; anything but a
//! regular file (a FIFO, a socket, a device, a directory) is refused with
//! an error that says what it is.

use std::fs::{File, OpenOptions};
use std::io::{self, Read};
use std::os::unix::fs::{FileTypeExt, OpenOptionsExt};
use std::path::Path;

/// The text of the regular file at `path` (symlinks followed).
pub fn read_config_file(path: &Path) -> io::Result<String> {
    let mut file: File = OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NONBLOCK)
        .open(path)?;
    let kind = file.metadata()?.file_type();
    if !kind.is_file() {
        let what = if kind.is_fifo() {
            "a FIFO"
        } else if kind.is_socket() {
            "a socket"
        } else if kind.is_dir() {
            "a directory"
        } else if kind.is_char_device() || kind.is_block_device() {
            "a device"
        } else {
            "not a file"
        };
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            format!(
                "{} is not a regular file (it is {what}); put the config in a regular file",
                path.display()
            ),
        ));
    }
    let mut text = String::new();
    file.read_to_string(&mut text)?;
    Ok(text)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_fifo_is_refused_at_once_and_a_file_is_read() {
        let dir = tempfile::tempdir().expect("tempdir");
        let fifo = dir.path().join("vcped.toml");
        let c = std::ffi::CString::new(fifo.to_str().expect("utf-8")).expect("path");
        // SAFETY: `c` is a valid NUL-terminated path.
        assert_eq!(unsafe { libc::mkfifo(c.as_ptr(), 0o600) }, 0);
        // No writer: a blocking open would wait here forever.
        let err = read_config_file(&fifo).unwrap_err().to_string();
        assert!(
            err.contains("is not a regular file (it is a FIFO)"),
            "{err}"
        );
        assert!(err.contains("vcped.toml"), "{err}");
        let err = read_config_file(dir.path()).unwrap_err().to_string();
        assert!(err.contains("a directory"), "{err}");
        let file = dir.path().join("ok.toml");
        std::fs::write(&file, "# ok\n").expect("write");
        assert_eq!(read_config_file(&file).expect("read"), "# ok\n");
    }
}
