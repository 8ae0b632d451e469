//! The light client's state on disk: the trust root, and each block it has seen with its status,
//! one JSON file a height, each written to a temporary file, fsynced and renamed into place so a
//! crash leaves the old file or the new one, never half of one.

use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};

use lightclient::light::{LightBlock, LightStore, MemoryStore, Status, StoreError, TrustedState};

/// The format of the files below (bumped when it changes, so an old home is refused clearly).
const FORMAT: u32 = 1;

#[derive(serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct StoredBlock {
    format: u32,
    status: Status,
    block: LightBlock,
}

#[derive(serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct StoredRoot {
    format: u32,
    root: TrustedState,
}

/// Writes `bytes` to `path` durably: temporary file, fsync, rename, fsync of the directory.
pub fn write_durably(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    let temporary = path.with_extension("tmp");
    {
        let mut file = fs::File::create(&temporary)?;
        file.write_all(bytes)?;
        file.sync_all()?;
    }
    fs::rename(&temporary, path)?;
    if let Some(dir) = path.parent() {
        fs::File::open(dir)?.sync_all()?;
    }
    Ok(())
}

/// Blocks in `HOME/blocks/HEIGHT.json`, each also held in memory for lookups.
#[derive(Debug)]
pub struct FileStore {
    dir: PathBuf,
    memory: MemoryStore,
}

impl FileStore {
    /// Where the trust root lives.
    pub fn root_path(home: &Path) -> PathBuf {
        home.join("trust-root.json")
    }

    /// Where the genesis file is kept (for the controller policy).
    pub fn genesis_path(home: &Path) -> PathBuf {
        home.join("genesis.json")
    }

    /// Writes the trust root and the genesis file of a new home (refusing to overwrite one).
    pub fn init(home: &Path, root: &TrustedState, genesis: &[u8]) -> Result<(), StoreError> {
        let path = FileStore::root_path(home);
        if path.exists() {
            return Err(StoreError(format!(
                "{} exists: this home is initialised already (remove it to start again)",
                path.display()
            )));
        }
        fs::create_dir_all(home.join("blocks"))
            .map_err(|e| StoreError(format!("{}: {e}", home.display())))?;
        let bytes = serde_json::to_vec_pretty(&StoredRoot {
            format: FORMAT,
            root: root.clone(),
        })
        .map_err(|e| StoreError(e.to_string()))?;
        let genesis_path = FileStore::genesis_path(home);
        write_durably(&genesis_path, genesis)
            .map_err(|e| StoreError(format!("{}: {e}", genesis_path.display())))?;
        write_durably(&path, &bytes).map_err(|e| StoreError(format!("{}: {e}", path.display())))
    }

    /// Opens a home: its trust root and every stored block.
    pub fn open(home: &Path) -> Result<(TrustedState, FileStore), StoreError> {
        let path = FileStore::root_path(home);
        let bytes = fs::read(&path).map_err(|e| {
            StoreError(format!(
                "{}: {e} (run `lightclient init` first)",
                path.display()
            ))
        })?;
        let stored: StoredRoot = serde_json::from_slice(&bytes)
            .map_err(|e| StoreError(format!("{}: {e}", path.display())))?;
        if stored.format != FORMAT {
            return Err(StoreError(format!(
                "{} has format {}, this program reads {FORMAT}",
                path.display(),
                stored.format
            )));
        }
        let dir = home.join("blocks");
        let mut memory = MemoryStore::new();
        let entries =
            fs::read_dir(&dir).map_err(|e| StoreError(format!("{}: {e}", dir.display())))?;
        for entry in entries {
            let entry = entry.map_err(|e| StoreError(e.to_string()))?;
            let path = entry.path();
            if path.extension().and_then(|e| e.to_str()) != Some("json") {
                continue;
            }
            let bytes =
                fs::read(&path).map_err(|e| StoreError(format!("{}: {e}", path.display())))?;
            let stored: StoredBlock = serde_json::from_slice(&bytes)
                .map_err(|e| StoreError(format!("{}: {e}", path.display())))?;
            memory.insert(stored.block, stored.status)?;
        }
        Ok((stored.root, FileStore { dir, memory }))
    }
}

impl LightStore for FileStore {
    fn get(&self, height: u64) -> Option<(LightBlock, Status)> {
        self.memory.get(height)
    }

    /// Written durably first, so what the client holds in memory is always on disk.
    fn insert(&mut self, block: LightBlock, status: Status) -> Result<(), StoreError> {
        let path = self.dir.join(format!("{:020}.json", block.height()));
        let stored = StoredBlock {
            format: FORMAT,
            status,
            block,
        };
        let bytes = serde_json::to_vec(&stored).map_err(|e| StoreError(e.to_string()))?;
        write_durably(&path, &bytes).map_err(|e| StoreError(format!("{}: {e}", path.display())))?;
        self.memory.insert(stored.block, stored.status)
    }

    fn highest_verified_below(&self, below: u64) -> Option<(LightBlock, Status)> {
        self.memory.highest_verified_below(below)
    }
}
