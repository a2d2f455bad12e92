//! The one way headroom reads a file an operator names: configuration, a capacity profile or
//! audit, a forecast CSV, a secret (password, webhook URL, systemd credential), a CA bundle.
//! Only a regular file is read (a device such as `/dev/zero`, a FIFO or a directory is refused
//! before a byte is read, and opening never blocks on a FIFO), and never more than its kind's
//! cap: the size is checked on the opened file and the read stops one byte past the cap, so a
//! file that grows while read is refused too. Errors say which rule broke and the cap; the
//! caller adds the path and what the file was for.
//!
//! May use: std and libc only.

use std::io::Read;
use std::path::Path;

/// What a file is for: each kind has its own cap.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    /// headroom.toml, sizing.toml, pricing.toml, alert rules: the shipped ones are a few KiB.
    Config,
    /// A capacity profile or an audit file for `plan` (a few KiB each).
    Profile,
    /// A time series for `forecast --csv` (a year of minute points is about 15 MB).
    Csv,
    /// A password, token or webhook URL: a line of text.
    Secret,
    /// A PEM bundle of CA certificates.
    Certificate,
}

impl Kind {
    /// The most bytes a file of this kind may have.
    pub fn cap(self) -> u64 {
        match self {
            Kind::Config | Kind::Profile | Kind::Certificate => 1 << 20,
            Kind::Csv => 64 << 20,
            Kind::Secret => 64 << 10,
        }
    }

    fn what(self) -> &'static str {
        match self {
            Kind::Config => "a configuration file",
            Kind::Profile => "a profile or audit file",
            Kind::Csv => "a CSV series",
            Kind::Secret => "a secret file",
            Kind::Certificate => "a certificate file",
        }
    }
}

/// Readable sizes: "1 MiB", "64 KiB", "1234 bytes".
pub fn size(bytes: u64) -> String {
    match bytes {
        b if b >= 1 << 20 && b % (1 << 20) == 0 => format!("{} MiB", b >> 20),
        b if b >= 1 << 10 && b % (1 << 10) == 0 => format!("{} KiB", b >> 10),
        b => format!("{b} bytes"),
    }
}

/// Reads the file as bytes, under the rules above.
pub fn read_bytes(path: &Path, kind: Kind) -> Result<Vec<u8>, String> {
    let mut opts = std::fs::OpenOptions::new();
    opts.read(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        // A FIFO opened for reading waits for a writer; non-blocking, it opens at once and is
        // then refused by its type below. No effect on a regular file.
        opts.custom_flags(libc::O_NONBLOCK | libc::O_NOCTTY);
    }
    let f = opts.open(path).map_err(|e| e.to_string())?;
    let meta = f.metadata().map_err(|e| e.to_string())?;
    if !meta.is_file() {
        let is = if meta.is_dir() { "a directory" } else { kind_of_special(&meta) };
        return Err(format!("not a regular file ({is}); {} must be one", kind.what()));
    }
    let cap = kind.cap();
    let too_big = |n: u64| {
        format!(
            "{n} bytes, more than the {} {} may have (is this the right file?)",
            size(cap),
            kind.what()
        )
    };
    if meta.len() > cap {
        return Err(too_big(meta.len()));
    }
    let mut body = Vec::with_capacity(meta.len() as usize);
    f.take(cap + 1).read_to_end(&mut body).map_err(|e| e.to_string())?;
    if body.len() as u64 > cap {
        return Err(format!("grew while read: {}", too_big(body.len() as u64)));
    }
    Ok(body)
}

/// Reads the file as UTF-8 text, under the rules above; a leading byte-order mark is dropped.
pub fn read_text(path: &Path, kind: Kind) -> Result<String, String> {
    let body = read_bytes(path, kind)?;
    let text = String::from_utf8(body).map_err(|e| {
        format!(
            "not UTF-8 text (byte {} is not valid); {} is text",
            e.utf8_error().valid_up_to(),
            kind.what()
        )
    })?;
    Ok(match text.strip_prefix('\u{feff}') {
        Some(t) => t.to_string(),
        None => text,
    })
}

#[cfg(unix)]
fn kind_of_special(meta: &std::fs::Metadata) -> &'static str {
    use std::os::unix::fs::FileTypeExt;
    let t = meta.file_type();
    if t.is_fifo() {
        "a FIFO"
    } else if t.is_char_device() || t.is_block_device() {
        "a device"
    } else if t.is_socket() {
        "a socket"
    } else {
        "not a file"
    }
}

#[cfg(not(unix))]
fn kind_of_special(_: &std::fs::Metadata) -> &'static str {
    "not a file"
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn devices_fifos_and_directories_are_refused_before_reading() {
        let e = read_text(Path::new("/dev/zero"), Kind::Csv).unwrap_err();
        assert!(e.contains("a device"), "{e}");
        let dir = std::env::temp_dir().join(format!("headroom-files-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let e = read_text(&dir, Kind::Profile).unwrap_err();
        assert!(e.contains("a directory"), "{e}");
        let fifo = dir.join("fifo");
        let _ = std::fs::remove_file(&fifo);
        let c = std::ffi::CString::new(fifo.to_str().unwrap()).unwrap();
        // SAFETY: mkfifo on a NUL-terminated path this test owns.
        assert_eq!(unsafe { libc::mkfifo(c.as_ptr(), 0o600) }, 0);
        let e = read_text(&fifo, Kind::Secret).unwrap_err();
        assert!(e.contains("a FIFO"), "{e}");
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn each_kind_reads_up_to_its_cap_and_not_a_byte_more() {
        let dir = std::env::temp_dir().join(format!("headroom-files-cap-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        for kind in [Kind::Config, Kind::Profile, Kind::Csv, Kind::Secret, Kind::Certificate] {
            let p = dir.join("f");
            std::fs::write(&p, vec![b'a'; kind.cap() as usize]).unwrap();
            assert_eq!(read_text(&p, kind).unwrap().len() as u64, kind.cap());
            std::fs::write(&p, vec![b'a'; kind.cap() as usize + 1]).unwrap();
            let e = read_text(&p, kind).unwrap_err();
            assert!(e.contains(&format!("{} bytes", kind.cap() + 1)), "{e}");
            assert!(e.contains(&size(kind.cap())), "{e}");
        }
        let p = dir.join("bom");
        std::fs::write(&p, "\u{feff}x = 1\n").unwrap();
        assert_eq!(read_text(&p, Kind::Config).unwrap(), "x = 1\n");
        std::fs::write(&p, [0xff, 0xfe, 0x00]).unwrap();
        assert!(read_text(&p, Kind::Config).unwrap_err().contains("not UTF-8"));
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
