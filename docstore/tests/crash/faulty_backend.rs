//! A redb storage backend in memory that loses power on cue: the disk a
//! crash test runs the store on.
//!
//! It keeps two images: what a reader sees now, and what the last
//! `sync_data` made durable, with the changes since. At the Nth mutating
//! call (`write`, `set_len` or `sync_data`) from when it is armed, the power
//! goes: that call and every call after it fail, as on a machine that
//! stopped. What survives on the platter is the durable image plus none of
//! the changes since ([`PowerCut::Clean`]) or an arbitrary part of them,
//! sector by sector ([`PowerCut::Torn`]), as a disk that reorders and
//! tears unsynced writes may leave.

use std::io;
use std::sync::{Arc, Mutex, MutexGuard};

use redb::StorageBackend;

/// The unit a disk writes whole: a torn write keeps some of them.
const SECTOR: usize = 512;

/// What survives of the changes made since the last sync.
#[derive(Debug, Clone, Copy)]
pub enum PowerCut {
    /// Nothing: the disk holds what the last sync made durable.
    Clean,
    /// An arbitrary subset of their sectors, chosen by `seed`.
    Torn {
        /// Picks the subset, so a failing run can be replayed.
        seed: u64,
    },
}

/// A change to the image not yet made durable.
#[derive(Debug)]
enum Change {
    Write { offset: usize, data: Vec<u8> },
    SetLen(usize),
}

#[derive(Debug, Default)]
struct Disk {
    /// What reads see.
    current: Vec<u8>,
    /// What the last sync made durable.
    durable: Vec<u8>,
    /// The changes since, in order.
    unsynced: Vec<Change>,
    /// Mutating calls left before the power goes, when armed.
    calls_left: Option<u64>,
    crashed: bool,
}

/// The backend, and the test's handle on the same disk (clones share it).
#[derive(Debug, Clone, Default)]
pub struct FaultyBackend(Arc<Mutex<Disk>>);

impl FaultyBackend {
    /// A disk holding `image`, all of it durable, never to crash unless
    /// armed.
    pub fn holding(image: Vec<u8>) -> FaultyBackend {
        FaultyBackend(Arc::new(Mutex::new(Disk {
            durable: image.clone(),
            current: image,
            ..Disk::default()
        })))
    }

    /// Cuts the power at the `n`th mutating call from now (1 is the next).
    pub fn crash_at(&self, n: u64) {
        self.disk().calls_left = Some(n);
    }

    /// Whether the power has gone.
    pub fn crashed(&self) -> bool {
        self.disk().crashed
    }

    /// What a restart would find on the disk after the power cut.
    pub fn surviving(&self, cut: PowerCut) -> Vec<u8> {
        let disk = self.disk();
        let mut image = disk.durable.clone();
        let PowerCut::Torn { seed } = cut else {
            return image;
        };
        let mut random = XorShift(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1);
        for change in &disk.unsynced {
            match change {
                Change::SetLen(len) => image.resize(*len, 0),
                Change::Write { offset, data } => {
                    for (i, sector) in data.chunks(SECTOR).enumerate() {
                        if random.coin() {
                            let start = offset + i * SECTOR;
                            let end = start + sector.len();
                            if image.len() < end {
                                image.resize(end, 0);
                            }
                            image[start..end].copy_from_slice(sector);
                        }
                    }
                }
            }
        }
        image
    }

    fn disk(&self) -> MutexGuard<'_, Disk> {
        // A panic elsewhere in a test must not hide behind a poisoned lock.
        self.0
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

impl Disk {
    /// Fails once the power is gone.
    fn powered(&self) -> io::Result<()> {
        if self.crashed {
            return Err(io::Error::other("the power is cut (simulated crash)"));
        }
        Ok(())
    }

    /// Counts a mutating call; cuts the power at the armed one.
    fn mutate(&mut self) -> io::Result<()> {
        self.powered()?;
        if let Some(left) = &mut self.calls_left {
            *left -= 1;
            if *left == 0 {
                self.crashed = true;
            }
        }
        self.powered()
    }
}

impl StorageBackend for FaultyBackend {
    fn len(&self) -> io::Result<u64> {
        let disk = self.disk();
        disk.powered()?;
        Ok(disk.current.len() as u64)
    }

    fn read(&self, offset: u64, out: &mut [u8]) -> io::Result<()> {
        let disk = self.disk();
        disk.powered()?;
        let start = offset as usize;
        let source = disk
            .current
            .get(start..start + out.len())
            .ok_or_else(|| io::Error::new(io::ErrorKind::UnexpectedEof, "read past the end"))?;
        out.copy_from_slice(source);
        Ok(())
    }

    fn set_len(&self, len: u64) -> io::Result<()> {
        let mut disk = self.disk();
        disk.mutate()?;
        disk.current.resize(len as usize, 0);
        disk.unsynced.push(Change::SetLen(len as usize));
        Ok(())
    }

    fn sync_data(&self) -> io::Result<()> {
        let mut disk = self.disk();
        disk.mutate()?;
        // The durable image becomes the current one; applying the changes
        // rather than copying keeps a sync as cheap as its writes.
        let Disk {
            durable, unsynced, ..
        } = &mut *disk;
        for change in unsynced.drain(..) {
            match change {
                Change::SetLen(len) => durable.resize(len, 0),
                Change::Write { offset, data } => {
                    durable[offset..offset + data.len()].copy_from_slice(&data)
                }
            }
        }
        Ok(())
    }

    fn write(&self, offset: u64, data: &[u8]) -> io::Result<()> {
        let mut disk = self.disk();
        disk.mutate()?;
        let offset = offset as usize;
        let end = offset + data.len();
        if disk.current.len() < end {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                "write past the end",
            ));
        }
        disk.current[offset..end].copy_from_slice(data);
        disk.unsynced.push(Change::Write {
            offset,
            data: data.to_vec(),
        });
        Ok(())
    }
}

/// A small fixed-seed random source, so a failing crash point replays.
struct XorShift(u64);

impl XorShift {
    fn coin(&mut self) -> bool {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0 >> 63 == 1
    }
}
