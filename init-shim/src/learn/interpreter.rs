//! What executing a file also executes: Landlock checks the execute right on a script's `#!`
//! interpreter and on an ELF program's loader (`PT_INTERP`) too, but the program's `execve`
//! names only the file. Read from the file's first bytes, the way the kernel does.
//!
//! The files are named by the program, which may be hostile to its observer: each is opened
//! `O_PATH` first ([`crate::path_fd`]: it never blocks), and read only if it is a regular file,
//! through that same open file, non-blocking, at most [`HEAD`] bytes. A `#!` line naming a FIFO
//! (whose read open would wait for a writer forever, and stall the supervisor with it) or a
//! device (whose open runs a driver) is not read; the kernel refuses to execute those anyway.

use std::io::Read;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::path::{Path, PathBuf};

/// How many `#!` levels the kernel follows (`BINPRM_MAX_RECURSION`).
const MAX_DEPTH: usize = 4;
/// How much of a file is read to find the interpreter.
const HEAD: u64 = 4096;

/// What a file's header says.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Executes {
    /// Interpreters and loaders the kernel opens to execute the file, outermost first.
    pub interpreters: Vec<PathBuf>,
    /// Whether the file (or its interpreter) is a 32-bit ELF program, whose syscalls the
    /// native-table filter does not observe.
    pub thirty_two_bit: bool,
}

/// Reads `file`'s header (`cwd` resolves a relative `#!` interpreter, as for the kernel).
pub fn executes(file: &Path, cwd: Option<&Path>) -> Executes {
    let mut out = Executes::default();
    let mut current = file.to_path_buf();
    for _ in 0..MAX_DEPTH {
        let Some(head) = head(&current) else {
            break;
        };
        if let Some(line) = head.strip_prefix(b"#!") {
            let line = line.split(|b| *b == b'\n').next().unwrap_or_default();
            let text = String::from_utf8_lossy(line);
            let Some(word) = text.split_whitespace().next() else {
                break;
            };
            let mut interpreter = PathBuf::from(word);
            if interpreter.is_relative() {
                match cwd {
                    Some(cwd) => interpreter = cwd.join(interpreter),
                    None => break,
                }
            }
            out.interpreters.push(interpreter.clone());
            current = interpreter;
            continue;
        }
        match elf(&head) {
            Some(Elf::ThirtyTwo) => out.thirty_two_bit = true,
            Some(Elf::SixtyFour(Some(loader))) => out.interpreters.push(loader),
            Some(Elf::SixtyFour(None)) | None => {}
        }
        break;
    }
    out
}

/// The first [`HEAD`] bytes of `path`, if it is a regular file (see the module doc).
fn head(path: &Path) -> Option<Vec<u8>> {
    let named = std::fs::File::from(crate::path_fd::open(path).ok()?);
    if !named.metadata().ok()?.is_file() {
        return None;
    }
    // Reopened through the O_PATH descriptor: the same file, whatever the path names by now.
    let again = std::ffi::CString::new(format!("/proc/self/fd/{}", named.as_raw_fd())).ok()?;
    // SAFETY: `again` is a valid NUL-terminated string; open takes no other pointer, and the
    // descriptor it returns is owned right below.
    let fd = unsafe {
        libc::open(
            again.as_ptr(),
            libc::O_RDONLY | libc::O_NONBLOCK | libc::O_NOCTTY | libc::O_CLOEXEC,
        )
    };
    if fd < 0 {
        return None;
    }
    // SAFETY: the kernel just returned this new descriptor; nothing else owns it.
    let file = std::fs::File::from(unsafe { OwnedFd::from_raw_fd(fd) });
    let mut buf = Vec::new();
    file.take(HEAD).read_to_end(&mut buf).ok()?;
    Some(buf)
}

enum Elf {
    ThirtyTwo,
    SixtyFour(Option<PathBuf>),
}

/// The class of an ELF header and, for 64-bit little-endian files, the `PT_INTERP` path.
fn elf(head: &[u8]) -> Option<Elf> {
    if head.get(..4)? != b"\x7fELF" {
        return None;
    }
    match head.get(4)? {
        1 => return Some(Elf::ThirtyTwo),
        2 => {}
        _ => return None,
    }
    if *head.get(5)? != 1 {
        return Some(Elf::SixtyFour(None)); // big-endian: not a program this build runs
    }
    let u16_at = |o: usize| Some(u16::from_le_bytes(head.get(o..o + 2)?.try_into().ok()?));
    let u64_at = |o: usize| Some(u64::from_le_bytes(head.get(o..o + 8)?.try_into().ok()?));
    let phoff = usize::try_from(u64_at(0x20)?).ok()?;
    let phentsize = usize::from(u16_at(0x36)?);
    let phnum = usize::from(u16_at(0x38)?);
    for i in 0..phnum {
        let ph = phoff.checked_add(i.checked_mul(phentsize)?)?;
        let p_type = u32::from_le_bytes(head.get(ph..ph + 4)?.try_into().ok()?);
        if p_type == 3 {
            let offset = usize::try_from(u64_at(ph + 8)?).ok()?;
            let size = usize::try_from(u64_at(ph + 32)?).ok()?;
            let raw = head.get(offset..offset.checked_add(size)?)?;
            let raw = raw.split(|b| *b == 0).next()?;
            return Some(Elf::SixtyFour(Some(PathBuf::from(
                String::from_utf8_lossy(raw).into_owned(),
            ))));
        }
    }
    Some(Elf::SixtyFour(None))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scripts_name_their_interpreter_and_programs_their_loader() -> std::io::Result<()> {
        let dir = tempfile::tempdir()?;
        let script = dir.path().join("s");
        std::fs::write(&script, "#!/bin/sh -e\necho\n")?;
        let got = executes(&script, None);
        assert_eq!(got.interpreters[0], PathBuf::from("/bin/sh"));
        // /bin/sh is itself an ELF program with a loader (dash on Debian).
        assert!(
            got.interpreters
                .iter()
                .any(|p| p.to_string_lossy().contains("ld-linux")),
            "{got:?}"
        );
        assert!(!got.thirty_two_bit);
        let busybox = executes(Path::new("/usr/bin/busybox"), None);
        assert!(
            busybox.interpreters.is_empty(),
            "busybox-static has no loader: {busybox:?}"
        );
        Ok(())
    }

    #[test]
    fn an_interpreter_that_is_a_fifo_or_a_device_is_named_but_never_read() -> std::io::Result<()> {
        let dir = tempfile::tempdir()?;
        let fifo = dir.path().join("fifo");
        let name = std::ffi::CString::new(fifo.to_str().expect("UTF-8"))?;
        // SAFETY: `name` is a valid NUL-terminated string; mkfifo takes no other pointer.
        assert_eq!(unsafe { libc::mkfifo(name.as_ptr(), 0o755) }, 0);
        for interpreter in [fifo.as_path(), Path::new("/dev/tty")] {
            let script = dir.path().join("s");
            std::fs::write(&script, format!("#!{}\n", interpreter.display()))?;
            // Returns (a read open of the FIFO would wait for a writer forever).
            let got = executes(&script, None);
            assert_eq!(got.interpreters, [interpreter.to_path_buf()]);
        }
        Ok(())
    }
}
