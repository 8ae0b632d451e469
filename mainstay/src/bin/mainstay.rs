//! `mainstay`: verify Mainstay proofs from files, or (feature `service`) run the self-hosted service.
//!
//! - `mainstay verify [--slot N] [--list C1,C2,...] FILE.msp...` checks pymainstay slot-proof
//!   sequences (newest first) and prints an account of each check.
//! - `mainstay verify --staychain SPEC.json --bitcoin-headers FILE [--checkpoint HEIGHT:HASH]
//!   [--commitment HEX] EVIDENCE.json...` runs every check — slot proof, pay-to-contract,
//!   staychain, Bitcoin header chain, Bitcoin inclusion — on attestation evidence files. The
//!   headers file (80-byte headers back to back, or one hex header a line, oldest first) starts
//!   at the checkpoint (default: the network's genesis) and is checked under the full difficulty
//!   rules.
//! - `mainstay serve --config FILE` runs the service (feature `service`).
//!
//! Exit status: 0 all checks pass, 1 a check fails, 2 bad usage or unreadable input.
#![allow(clippy::print_stdout, clippy::print_stderr)] // a command-line program reports to the terminal

use std::process::ExitCode;

use mainstay::bitcoin::Network;
use mainstay::evidence::CHECKS;
use mainstay::headers::{chain_from_file, parse_header_file};
use mainstay::{
    AttestationEvidence, Checkpoint, HeaderChain, SlotProof, StaychainSpec, match_commitment_list,
};

const USAGE: &str = "usage:
  mainstay verify [--slot N] [--list C1,C2,...] FILE.msp...
  mainstay verify --staychain SPEC.json --bitcoin-headers FILE [--checkpoint HEIGHT:HASH]
                  [--commitment HEX] EVIDENCE.json...
  mainstay serve --config FILE          (built with feature `service`)";

struct VerifyArgs {
    slot: Option<u64>,
    list: Option<Vec<String>>,
    staychain: Option<String>,
    bitcoin_headers: Option<String>,
    checkpoint: Option<Checkpoint>,
    commitment: Option<String>,
    files: Vec<String>,
}

fn parse_verify(args: &[String]) -> Result<VerifyArgs, String> {
    let mut parsed = VerifyArgs {
        slot: None,
        list: None,
        staychain: None,
        bitcoin_headers: None,
        checkpoint: None,
        commitment: None,
        files: Vec::new(),
    };
    let mut rest = args.iter();
    while let Some(arg) = rest.next() {
        let mut value = |name: &str| {
            rest.next()
                .cloned()
                .ok_or_else(|| format!("{name} needs a value"))
        };
        match arg.as_str() {
            "--slot" => {
                let v = value("--slot")?;
                parsed.slot = Some(
                    v.parse()
                        .map_err(|_| format!("--slot {v:?} is not a number"))?,
                );
            }
            "--list" => {
                parsed.list = Some(value("--list")?.split(',').map(str::to_string).collect());
            }
            "--staychain" => parsed.staychain = Some(value("--staychain")?),
            "--commitment" => parsed.commitment = Some(value("--commitment")?),
            "--bitcoin-headers" => parsed.bitcoin_headers = Some(value("--bitcoin-headers")?),
            "--checkpoint" => {
                let v = value("--checkpoint")?;
                parsed.checkpoint = Some(v.parse().map_err(|e| format!("--checkpoint: {e}"))?);
            }
            flag if flag.starts_with("--") => return Err(format!("unknown option {flag}")),
            file => parsed.files.push(file.to_string()),
        }
    }
    if parsed.files.is_empty() {
        return Err("no file given".into());
    }
    if parsed.staychain.is_some() && parsed.bitcoin_headers.is_none() {
        return Err(
            "--staychain needs --bitcoin-headers: an attestation is checked against a header chain followed from a checkpoint".into(),
        );
    }
    Ok(parsed)
}

fn read(file: &str) -> Result<Vec<u8>, ExitCode> {
    std::fs::read(file).map_err(|e| {
        eprintln!("{file}: cannot read: {e}");
        ExitCode::from(2)
    })
}

fn verify_sequences(args: &VerifyArgs) -> Result<usize, ExitCode> {
    let mut failed = 0usize;
    for file in &args.files {
        let bytes = read(file)?;
        let proofs = match serde_json::from_slice::<Vec<SlotProof>>(&bytes) {
            Ok(list) => list,
            Err(_) => match SlotProof::from_json(&bytes) {
                Ok(one) => vec![one],
                Err(e) => {
                    eprintln!("{file}: not a slot proof or a list of them: {e}");
                    return Err(ExitCode::from(2));
                }
            },
        };
        println!("{file}: {} slot proof(s), newest first", proofs.len());
        for (i, proof) in proofs.iter().enumerate() {
            let at = proof
                .height
                .as_deref()
                .map(|h| format!(" (Bitcoin block {h})"))
                .unwrap_or_default();
            println!(
                "  [{i}] commitment {} in attestation {}{at}",
                proof.commitment, proof.txid
            );
            let (how, result) = match args.slot {
                Some(slot) => (format!("slot proof at slot {slot}"), proof.verify_at(slot)),
                None => (
                    "slot proof (sides from the append flags)".to_string(),
                    proof.verify(),
                ),
            };
            match result {
                Ok(()) => println!(
                    "      {how}: OK, {} steps lead to root {}",
                    proof.ops.len(),
                    proof.merkle_root
                ),
                Err(e) => {
                    failed = failed.saturating_add(1);
                    println!("      {how}: FAILED: {e}");
                }
            }
        }
        if let Some(list) = &args.list {
            match match_commitment_list(&proofs, list) {
                Ok(()) => println!(
                    "  commitment list: OK, the sequence commits the {} listed commitments in order",
                    list.len()
                ),
                Err(e) => {
                    failed = failed.saturating_add(1);
                    println!("  commitment list: FAILED: {e}");
                }
            }
        }
        println!(
            "  pay-to-contract, staychain, Bitcoin inclusion: not checked here (a .msp file holds no transactions or headers; verify an evidence file with --staychain)"
        );
    }
    Ok(failed)
}

/// The header chain of `--bitcoin-headers` from `--checkpoint` (default: genesis), checked under
/// the full difficulty rules against this machine's clock.
fn follow_file(args: &VerifyArgs, network: Network) -> Result<HeaderChain, ExitCode> {
    let Some(file) = &args.bitcoin_headers else {
        eprintln!("--bitcoin-headers is needed\n{USAGE}");
        return Err(ExitCode::from(2));
    };
    let headers = parse_header_file(&read(file)?).map_err(|e| {
        eprintln!("{file}: {e}");
        ExitCode::from(2)
    })?;
    let checkpoint = args
        .checkpoint
        .unwrap_or_else(|| Checkpoint::genesis(network));
    match chain_from_file(network, checkpoint, &headers, now_secs()) {
        Ok(chain) => {
            println!(
                "{file}: {} header(s) from checkpoint {checkpoint} to height {} ({}), difficulty rules of {network} checked",
                headers.len(),
                chain.tip_height(),
                chain.tip_hash()
            );
            Ok(chain)
        }
        Err(e) => {
            println!("{file}: bitcoin header chain: FAILED: {e}");
            Err(ExitCode::from(1))
        }
    }
}

fn verify_evidence(args: &VerifyArgs, spec_file: &str) -> Result<usize, ExitCode> {
    let spec: StaychainSpec = serde_json::from_slice(&read(spec_file)?).map_err(|e| {
        eprintln!("{spec_file}: not a staychain spec: {e}");
        ExitCode::from(2)
    })?;
    let config = spec.to_config().map_err(|e| {
        eprintln!("{spec_file}: {e}");
        ExitCode::from(2)
    })?;
    let chain = follow_file(args, config.network)?;
    let mut failed = 0usize;
    for file in &args.files {
        let evidence: AttestationEvidence = serde_json::from_slice(&read(file)?).map_err(|e| {
            eprintln!("{file}: not attestation evidence: {e}");
            ExitCode::from(2)
        })?;
        println!(
            "{file}: commitment {} at slot {}",
            evidence.slot_proof.commitment, evidence.position
        );
        match evidence.verify_extending(
            &config,
            &mut chain.clone(),
            now_secs(),
            args.commitment.as_deref(),
        ) {
            Ok((report, _)) => {
                println!(
                    "  commitment: OK{}",
                    if args.commitment.is_some() {
                        ", the one asked for"
                    } else {
                        " (none asked for)"
                    }
                );
                println!(
                    "  slot proof: OK, {} steps lead to root {}",
                    report.slot_path_length, report.merkle_root
                );
                println!("  attestation txid: OK, {}", report.txid);
                println!(
                    "  pay-to-contract: OK, the single output pays {} (key(s) tweaked by the root)",
                    report.output_script
                );
                println!(
                    "  staychain: OK, {} attestation(s) back to initial transaction {}",
                    report.staychain_length, config.initial_txid
                );
                println!(
                    "  bitcoin header chain: OK, followed from checkpoint {} under the difficulty rules",
                    report.checkpoint
                );
                println!(
                    "  bitcoin inclusion: OK, in block {} at height {} with {} confirmation(s) (at least {} required)",
                    report.block, report.height, report.confirmations, config.min_confirmations
                );
            }
            Err(e) => {
                failed = failed.saturating_add(1);
                let failing = e.check();
                let mut reached = false;
                for check in CHECKS {
                    if check == failing {
                        println!("  {check}: FAILED: {e}");
                        reached = true;
                    } else if reached {
                        println!("  {check}: not reached");
                    } else {
                        println!("  {check}: OK");
                    }
                }
            }
        }
    }
    Ok(failed)
}

fn now_secs() -> u32 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| u32::try_from(d.as_secs()).unwrap_or(u32::MAX))
}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    match args.split_first() {
        Some((command, rest)) if command == "verify" => {
            let parsed = match parse_verify(rest) {
                Ok(p) => p,
                Err(e) => {
                    eprintln!("{e}\n{USAGE}");
                    return ExitCode::from(2);
                }
            };
            let outcome = match &parsed.staychain {
                Some(spec) => verify_evidence(&parsed, spec),
                None => verify_sequences(&parsed),
            };
            match outcome {
                Ok(0) => ExitCode::SUCCESS,
                Ok(failed) => {
                    println!("{failed} check(s) failed");
                    ExitCode::from(1)
                }
                Err(code) => code,
            }
        }
        Some((command, rest)) if command == "serve" => serve(rest),
        _ => {
            eprintln!("{USAGE}");
            ExitCode::from(2)
        }
    }
}

#[cfg(feature = "service")]
fn serve(args: &[String]) -> ExitCode {
    let [flag, path] = args else {
        eprintln!("{USAGE}");
        return ExitCode::from(2);
    };
    if flag != "--config" {
        eprintln!("{USAGE}");
        return ExitCode::from(2);
    }
    match mainstay::service::run_from_config_file(std::path::Path::new(path)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("mainstay serve: {e:#}");
            ExitCode::from(1)
        }
    }
}

#[cfg(not(feature = "service"))]
fn serve(_args: &[String]) -> ExitCode {
    eprintln!("this mainstay binary was built without the `service` feature");
    ExitCode::from(2)
}
