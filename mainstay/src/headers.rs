//! A Bitcoin header chain followed from a checkpoint under the full difficulty rules.
//!
//! Proof of work under the network's limit alone proves almost nothing: a mainnet header at
//! difficulty 1 costs about 2^32 hashes, so a chain of them can be forged on a laptop. A
//! [`HeaderChain`] accepts a header only when
//! - it builds on a header the chain holds (the checkpoint is trusted, everything after it is
//!   checked);
//! - its `bits` are exactly what the network's rules require at its height: on mainnet, the
//!   previous header's bits inside a 2,016-block period and, at each period's first block, the
//!   retarget computed from the previous period's first and last timestamps with the 4× clamp
//!   (Bitcoin Core's `GetNextWorkRequired`); on regtest, which never retargets, the previous bits;
//! - its hash meets that target;
//! - its time is above the median of the 11 headers before it, and at most two hours past the
//!   verifier's clock.
//!
//! Of competing branches the one with the most cumulative work is the chain (a branch with equal
//! or less work is refused with [`HeaderChainError::NotMoreWork`]). There is no I/O here: the
//! caller feeds headers from a file or a Bitcoin node and passes its clock.

use std::collections::HashMap;
use std::fmt;
use std::str::FromStr;

use bitcoin::block::Header;
use bitcoin::params::Params;
use bitcoin::pow::{CompactTarget, Work};
use bitcoin::{BlockHash, Network};

/// How far past the verifier's clock a header's time may lie (Bitcoin Core's
/// `MAX_FUTURE_BLOCK_TIME`).
pub const MAX_FUTURE_SECS: u32 = 2 * 60 * 60;

/// How many previous headers the median-time-past rule looks at.
pub const MEDIAN_TIME_SPAN: usize = 11;

/// Where a verifier starts trusting Bitcoin: a height and the hash of the header there.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct Checkpoint {
    /// The height of the checkpoint header.
    pub height: u32,
    /// Its hash.
    pub hash: BlockHash,
}

impl Checkpoint {
    /// The network's genesis block as a checkpoint: with it nothing but the genesis is trusted.
    pub fn genesis(network: Network) -> Self {
        Checkpoint {
            height: 0,
            hash: bitcoin::constants::genesis_block(network).block_hash(),
        }
    }
}

impl fmt::Display for Checkpoint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.height, self.hash)
    }
}

/// Why a checkpoint in `HEIGHT:HASH` form cannot be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum CheckpointParseError {
    /// There is no `:` between height and hash.
    #[error("a checkpoint is HEIGHT:HASH, got {0:?}")]
    Form(String),
    /// The height is not a number.
    #[error("checkpoint height {0:?} is not a block height")]
    Height(String),
    /// The hash is not 64 hex digits.
    #[error("checkpoint hash {0:?} is not a block hash")]
    Hash(String),
}

impl TryFrom<String> for Checkpoint {
    type Error = CheckpointParseError;

    fn try_from(s: String) -> Result<Self, Self::Error> {
        s.parse()
    }
}

impl From<Checkpoint> for String {
    fn from(checkpoint: Checkpoint) -> String {
        checkpoint.to_string()
    }
}

impl FromStr for Checkpoint {
    type Err = CheckpointParseError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let (height, hash) = s
            .split_once(':')
            .ok_or_else(|| CheckpointParseError::Form(s.to_string()))?;
        Ok(Checkpoint {
            height: height
                .parse()
                .map_err(|_| CheckpointParseError::Height(height.to_string()))?,
            hash: hash
                .parse()
                .map_err(|_| CheckpointParseError::Hash(hash.to_string()))?,
        })
    }
}

/// Why a header chain cannot start or a header is refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum HeaderChainError {
    /// Only mainnet and regtest rules are implemented (testnet's 20-minute rule and signet's
    /// block signatures are not).
    #[error("the {0} network's header rules are not implemented (mainnet and regtest are)")]
    UnsupportedNetwork(Network),
    /// A mainnet checkpoint must be the first block of a difficulty period, so that every later
    /// retarget can be recomputed from headers the chain holds.
    #[error(
        "checkpoint height {height} is not the first block of a difficulty period (a multiple of {interval})"
    )]
    CheckpointNotAtPeriodStart {
        /// The checkpoint's height.
        height: u32,
        /// Blocks per period.
        interval: u32,
    },
    /// The header given for the checkpoint is another block.
    #[error("the checkpoint is block {expected}, but the header given for it is {found}")]
    CheckpointMismatch {
        /// The configured hash.
        expected: BlockHash,
        /// The given header's hash.
        found: BlockHash,
    },
    /// The first header of an extension builds on a block this chain does not hold.
    #[error("header {block} builds on {parent}, which this chain does not hold")]
    Unconnected {
        /// The header.
        block: BlockHash,
        /// Its claimed parent.
        parent: BlockHash,
    },
    /// A header does not build on the one before it in the same extension.
    #[error("header at height {height} builds on {found}, not on the previous header {expected}")]
    NotLinked {
        /// Its height.
        height: u32,
        /// The previous header's hash.
        expected: BlockHash,
        /// What it names as parent.
        found: BlockHash,
    },
    /// A header's `bits` are not those the difficulty rules require at its height.
    #[error(
        "header {block} at height {height} claims bits {found:#010x}, but the difficulty rules require {expected:#010x}"
    )]
    WrongDifficulty {
        /// Its height.
        height: u32,
        /// Its hash.
        block: BlockHash,
        /// The bits the rules require.
        expected: u32,
        /// The bits it claims.
        found: u32,
    },
    /// A header's target is easier than the network's proof-of-work limit.
    #[error("header {block} at height {height} claims a target above the network's limit")]
    TargetAboveLimit {
        /// Its height.
        height: u32,
        /// Its hash.
        block: BlockHash,
    },
    /// A header's hash does not meet its target.
    #[error("header {block} at height {height} does not meet its target: invalid proof of work")]
    InvalidProofOfWork {
        /// Its height.
        height: u32,
        /// Its hash.
        block: BlockHash,
    },
    /// A header's time is not above the median of the 11 before it.
    #[error(
        "header {block} at height {height} has time {time}, not above the median time past {median_time_past}"
    )]
    TimeTooOld {
        /// Its height.
        height: u32,
        /// Its hash.
        block: BlockHash,
        /// Its time.
        time: u32,
        /// The median of the previous 11 times.
        median_time_past: u32,
    },
    /// A header's time is more than two hours past the verifier's clock.
    #[error(
        "header {block} at height {height} has time {time}, later than {latest} (the clock plus two hours)"
    )]
    TimeTooNew {
        /// Its height.
        height: u32,
        /// Its hash.
        block: BlockHash,
        /// Its time.
        time: u32,
        /// The latest time accepted.
        latest: u32,
    },
    /// A branch does not carry more work than the part of the chain it would replace.
    #[error(
        "the branch from height {fork_height} to {branch_tip} carries no more work than the chain it would replace"
    )]
    NotMoreWork {
        /// The last height both share.
        fork_height: u32,
        /// The branch's last header.
        branch_tip: BlockHash,
    },
    /// A header file or list with no header, not even the checkpoint's.
    #[error("no header was given, not even the checkpoint's")]
    NoCheckpointHeader,
    /// Heights beyond `u32::MAX`.
    #[error("the chain would pass height {}", u32::MAX)]
    HeightOverflow,
}

/// What an accepted extension changed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Extension {
    /// The last height the old and new chain share.
    pub fork_height: u32,
    /// The tip before.
    pub old_tip: (u32, BlockHash),
    /// The tip now.
    pub new_tip: (u32, BlockHash),
    /// Headers of the old chain that were replaced (0 unless a branch with more work won).
    pub replaced: u32,
}

/// The headers from a checkpoint to the tip of the most-work valid chain known.
#[derive(Clone)]
pub struct HeaderChain {
    params: Params,
    checkpoint: Checkpoint,
    // Never empty: the checkpoint's header stays first.
    headers: Vec<Header>,
    hashes: Vec<BlockHash>,
    heights: HashMap<BlockHash, u32>,
}

impl fmt::Debug for HeaderChain {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("HeaderChain")
            .field("network", &self.params.network)
            .field("checkpoint", &self.checkpoint)
            .field("tip_height", &self.tip_height())
            .field("tip", &self.tip_hash())
            .finish()
    }
}

/// The headers a new header is checked against: the chain's up to the fork point, then the
/// branch's own.
struct View<'a> {
    chain: &'a HeaderChain,
    fork_height: u32,
    branch: &'a [Header],
}

impl View<'_> {
    fn header(&self, height: u32) -> Option<&Header> {
        if height <= self.fork_height {
            self.chain.header_at(height)
        } else {
            let offset = height.checked_sub(self.fork_height)?.checked_sub(1)?;
            self.branch.get(usize::try_from(offset).ok()?)
        }
    }
}

impl HeaderChain {
    /// Starts a chain at `checkpoint`, whose header is `header`.
    pub fn new(
        network: Network,
        checkpoint: Checkpoint,
        header: Header,
    ) -> Result<Self, HeaderChainError> {
        let params = match network {
            Network::Bitcoin | Network::Regtest => Params::new(network),
            other => return Err(HeaderChainError::UnsupportedNetwork(other)),
        };
        let interval = interval(&params);
        if !params.no_pow_retargeting && !checkpoint.height.is_multiple_of(interval) {
            return Err(HeaderChainError::CheckpointNotAtPeriodStart {
                height: checkpoint.height,
                interval,
            });
        }
        let hash = header.block_hash();
        if hash != checkpoint.hash {
            return Err(HeaderChainError::CheckpointMismatch {
                expected: checkpoint.hash,
                found: hash,
            });
        }
        check_work(&params, checkpoint.height, &header, header.bits)?;
        Ok(HeaderChain {
            params,
            checkpoint,
            headers: vec![header],
            hashes: vec![hash],
            heights: HashMap::from([(hash, checkpoint.height)]),
        })
    }

    /// The network whose rules apply.
    pub fn network(&self) -> Network {
        self.params.network
    }

    /// The checkpoint this chain starts from.
    pub fn checkpoint(&self) -> Checkpoint {
        self.checkpoint
    }

    /// The height of the last header.
    pub fn tip_height(&self) -> u32 {
        let above = u32::try_from(self.headers.len().saturating_sub(1)).unwrap_or(u32::MAX);
        self.checkpoint.height.saturating_add(above)
    }

    /// The hash of the last header.
    pub fn tip_hash(&self) -> BlockHash {
        self.hashes.last().copied().unwrap_or(self.checkpoint.hash)
    }

    /// The headers from the checkpoint to the tip.
    pub fn headers(&self) -> &[Header] {
        &self.headers
    }

    /// The header at `height` on this chain.
    pub fn header_at(&self, height: u32) -> Option<&Header> {
        let offset = height.checked_sub(self.checkpoint.height)?;
        self.headers.get(usize::try_from(offset).ok()?)
    }

    /// The height of `hash` if it is on this chain.
    pub fn height_of(&self, hash: &BlockHash) -> Option<u32> {
        self.heights.get(hash).copied()
    }

    /// Bitcoin's confirmations of `hash`: 1 at the tip, 0 if it is not on this chain.
    pub fn confirmations(&self, hash: &BlockHash) -> u32 {
        self.height_of(hash)
            .map_or(0, |h| self.tip_height().saturating_sub(h).saturating_add(1))
    }

    /// Checks `headers` (oldest first; the first builds on any header this chain holds) and, if
    /// they carry more work than what they would replace, makes them the chain's tip. Headers
    /// already on the chain are skipped. `now` is the verifier's clock (Unix seconds).
    pub fn extend(&mut self, headers: &[Header], now: u32) -> Result<Extension, HeaderChainError> {
        let old_tip = (self.tip_height(), self.tip_hash());
        let mut rest = headers;
        // Headers the chain already holds at the same height change nothing.
        while let Some((first, tail)) = rest.split_first() {
            if self.heights.contains_key(&first.block_hash()) {
                rest = tail;
            } else {
                break;
            }
        }
        let Some(first) = rest.first() else {
            return Ok(Extension {
                fork_height: old_tip.0,
                old_tip,
                new_tip: old_tip,
                replaced: 0,
            });
        };
        let fork_height =
            self.height_of(&first.prev_blockhash)
                .ok_or(HeaderChainError::Unconnected {
                    block: first.block_hash(),
                    parent: first.prev_blockhash,
                })?;
        let mut branch_work = Work::from_be_bytes([0; 32]);
        let mut expected_parent = first.prev_blockhash;
        for (offset, header) in rest.iter().enumerate() {
            let offset = u32::try_from(offset).map_err(|_| HeaderChainError::HeightOverflow)?;
            let height = fork_height
                .checked_add(offset)
                .and_then(|h| h.checked_add(1))
                .ok_or(HeaderChainError::HeightOverflow)?;
            let view = View {
                chain: self,
                fork_height,
                branch: usize::try_from(offset)
                    .ok()
                    .and_then(|end| rest.get(..end))
                    .unwrap_or_default(),
            };
            let block = header.block_hash();
            if header.prev_blockhash != expected_parent {
                return Err(HeaderChainError::NotLinked {
                    height,
                    expected: expected_parent,
                    found: header.prev_blockhash,
                });
            }
            let expected = self.required_bits(&view, height, header)?;
            check_work(&self.params, height, header, expected)?;
            self.check_time(&view, height, header, now)?;
            branch_work = add_work(branch_work, header.work());
            expected_parent = block;
        }
        let replaced = old_tip.0.saturating_sub(fork_height);
        if replaced > 0 {
            let mut replaced_work = Work::from_be_bytes([0; 32]);
            for height in fork_height.saturating_add(1)..=old_tip.0 {
                if let Some(header) = self.header_at(height) {
                    replaced_work = add_work(replaced_work, header.work());
                }
            }
            if branch_work <= replaced_work {
                return Err(HeaderChainError::NotMoreWork {
                    fork_height,
                    branch_tip: expected_parent,
                });
            }
            let keep = usize::try_from(fork_height.saturating_sub(self.checkpoint.height))
                .map_err(|_| HeaderChainError::HeightOverflow)?
                .saturating_add(1);
            for hash in self.hashes.drain(keep..) {
                self.heights.remove(&hash);
            }
            self.headers.truncate(keep);
        }
        for header in rest {
            let hash = header.block_hash();
            let height = self.tip_height().saturating_add(1);
            self.headers.push(*header);
            self.hashes.push(hash);
            self.heights.insert(hash, height);
        }
        Ok(Extension {
            fork_height,
            old_tip,
            new_tip: (self.tip_height(), self.tip_hash()),
            replaced,
        })
    }

    /// The bits a header at `height` must carry (Bitcoin Core's `GetNextWorkRequired` for
    /// mainnet and regtest).
    fn required_bits(
        &self,
        view: &View<'_>,
        height: u32,
        header: &Header,
    ) -> Result<CompactTarget, HeaderChainError> {
        let unknown = || HeaderChainError::Unconnected {
            block: header.block_hash(),
            parent: header.prev_blockhash,
        };
        let previous = view
            .header(height.checked_sub(1).ok_or_else(unknown)?)
            .ok_or_else(unknown)?;
        let interval = interval(&self.params);
        if self.params.no_pow_retargeting || !height.is_multiple_of(interval) {
            return Ok(previous.bits);
        }
        // The period's first header is held: a checkpoint starts a period and heights only grow.
        let first_height =
            height
                .checked_sub(interval)
                .ok_or(HeaderChainError::CheckpointNotAtPeriodStart {
                    height: self.checkpoint.height,
                    interval,
                })?;
        let first =
            view.header(first_height)
                .ok_or(HeaderChainError::CheckpointNotAtPeriodStart {
                    height: self.checkpoint.height,
                    interval,
                })?;
        retarget(&self.params, first, previous).ok_or(HeaderChainError::TargetAboveLimit {
            height: height.saturating_sub(1),
            block: header.prev_blockhash,
        })
    }

    fn check_time(
        &self,
        view: &View<'_>,
        height: u32,
        header: &Header,
        now: u32,
    ) -> Result<(), HeaderChainError> {
        let block = header.block_hash();
        let latest = now.saturating_add(MAX_FUTURE_SECS);
        if header.time > latest {
            return Err(HeaderChainError::TimeTooNew {
                height,
                block,
                time: header.time,
                latest,
            });
        }
        let mut times: Vec<u32> = (1..=MEDIAN_TIME_SPAN)
            .map_while(|back| height.checked_sub(u32::try_from(back).ok()?))
            .map_while(|h| view.header(h).map(|p| p.time))
            .collect();
        // With fewer than 11 ancestors the median is Core's only at genesis; after a later
        // checkpoint the missing times are unknown, and a partial median could refuse a valid
        // header, so the rule starts once 11 are held.
        if times.len() < MEDIAN_TIME_SPAN && self.checkpoint.height > 0 {
            return Ok(());
        }
        times.sort_unstable();
        let Some(&median_time_past) = times.get(times.len() / 2) else {
            return Ok(());
        };
        if header.time <= median_time_past {
            return Err(HeaderChainError::TimeTooOld {
                height,
                block,
                time: header.time,
                median_time_past,
            });
        }
        Ok(())
    }
}

/// The bits Bitcoin's retarget rule gives the first block after the difficulty period from
/// `first` to `last` (Bitcoin Core's `CalculateNextWorkRequired`: the period's timespan clamped to
/// a quarter and four times two weeks, the new target capped at the network's limit). `None`
/// when `last` claims a target above that limit, which no valid header does.
pub fn retarget(params: &Params, first: &Header, last: &Header) -> Option<CompactTarget> {
    if last.target() > params.max_attainable_target {
        return None;
    }
    // Core computes the timespan as a signed number; a negative one clamps to the minimum.
    let timespan = u64::from(last.time.saturating_sub(first.time));
    Some(CompactTarget::from_next_work_required(
        last.bits, timespan, params,
    ))
}

/// Sums work. Only headers whose hash met their target are added, so the sum is bounded by
/// hashes really computed, far below 2^256.
#[allow(clippy::arithmetic_side_effects)]
fn add_work(sum: Work, more: Work) -> Work {
    sum + more
}

fn interval(params: &Params) -> u32 {
    u32::try_from(params.difficulty_adjustment_interval()).unwrap_or(u32::MAX)
}

/// The bits must be `expected`, the target within the network's limit and met by the hash.
fn check_work(
    params: &Params,
    height: u32,
    header: &Header,
    expected: CompactTarget,
) -> Result<(), HeaderChainError> {
    let block = header.block_hash();
    if header.bits != expected {
        return Err(HeaderChainError::WrongDifficulty {
            height,
            block,
            expected: expected.to_consensus(),
            found: header.bits.to_consensus(),
        });
    }
    let target = header.target();
    if target > params.max_attainable_target {
        return Err(HeaderChainError::TargetAboveLimit { height, block });
    }
    header
        .validate_pow(target)
        .map(|_| ())
        .map_err(|_| HeaderChainError::InvalidProofOfWork { height, block })
}

/// Why a file of headers cannot be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum HeaderFileError {
    /// A line of a text file is not hex.
    #[error("line {line}: not hex: {reason}")]
    Hex {
        /// 1-based.
        line: usize,
        /// Why.
        reason: String,
    },
    /// A header does not decode (80 bytes in Bitcoin's encoding).
    #[error("header {index}: {reason}")]
    Header {
        /// 0-based.
        index: usize,
        /// Why.
        reason: String,
    },
}

/// Headers from a file's bytes: 80-byte headers back to back, or one hex header a line (as
/// `bitcoin-cli getblockheader HASH false` prints them), oldest first.
pub fn parse_header_file(bytes: &[u8]) -> Result<Vec<Header>, HeaderFileError> {
    let text = std::str::from_utf8(bytes).ok().filter(|t| {
        t.lines()
            .all(|l| l.trim().chars().all(|c| c.is_ascii_hexdigit()))
    });
    let raw: Vec<Vec<u8>> = match text {
        Some(text) => text
            .lines()
            .enumerate()
            .filter(|(_, l)| !l.trim().is_empty())
            .map(|(i, l)| {
                hex::decode(l.trim()).map_err(|e| HeaderFileError::Hex {
                    line: i.saturating_add(1),
                    reason: e.to_string(),
                })
            })
            .collect::<Result<_, _>>()?,
        None => bytes.chunks(80).map(<[u8]>::to_vec).collect(),
    };
    raw.iter()
        .enumerate()
        .map(|(index, bytes)| {
            bitcoin::consensus::deserialize::<Header>(bytes).map_err(|e| HeaderFileError::Header {
                index,
                reason: e.to_string(),
            })
        })
        .collect()
}

/// A chain from a header file whose first header is the checkpoint's, extended by the rest.
pub fn chain_from_file(
    network: Network,
    checkpoint: Checkpoint,
    headers: &[Header],
    now: u32,
) -> Result<HeaderChain, HeaderChainError> {
    let Some((first, rest)) = headers.split_first() else {
        return Err(HeaderChainError::NoCheckpointHeader);
    };
    let mut chain = HeaderChain::new(network, checkpoint, *first)?;
    chain.extend(rest, now)?;
    Ok(chain)
}
