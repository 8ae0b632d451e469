//! `mainstay verify FILE...`: checks every slot proof in pymainstay `.msp` files (a JSON array of
//! proofs, or one proof) and prints an account of each check. Exit status 1 if any proof fails.
#![allow(clippy::print_stdout, clippy::print_stderr)] // a command-line program reports to the terminal

use std::process::ExitCode;

use mainstay::SlotProof;

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let Some(("verify", files)) = args.split_first().map(|(c, rest)| (c.as_str(), rest)) else {
        eprintln!("usage: mainstay verify FILE.msp [FILE.msp ...]");
        return ExitCode::from(2);
    };
    if files.is_empty() {
        eprintln!("usage: mainstay verify FILE.msp [FILE.msp ...]");
        return ExitCode::from(2);
    }
    let mut failed = 0usize;
    for file in files {
        let bytes = match std::fs::read(file) {
            Ok(b) => b,
            Err(e) => {
                eprintln!("{file}: cannot read: {e}");
                return ExitCode::from(2);
            }
        };
        let proofs: Vec<SlotProof> = match serde_json::from_slice::<Vec<SlotProof>>(&bytes) {
            Ok(list) => list,
            Err(_) => match SlotProof::from_json(&bytes) {
                Ok(one) => vec![one],
                Err(e) => {
                    eprintln!("{file}: not a slot proof or a list of them: {e}");
                    return ExitCode::from(2);
                }
            },
        };
        println!("{file}: {} slot proof(s)", proofs.len());
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
            match proof.verify() {
                Ok(()) => println!(
                    "      slot proof: OK, {} steps lead to root {}",
                    proof.ops.len(),
                    proof.merkle_root
                ),
                Err(e) => {
                    failed = failed.saturating_add(1);
                    println!("      slot proof: FAILED: {e}");
                }
            }
            println!(
                "      pay-to-contract, staychain, Bitcoin inclusion: not checked (need the attestation transaction and headers)"
            );
        }
    }
    if failed == 0 {
        ExitCode::SUCCESS
    } else {
        println!("{failed} proof(s) failed");
        ExitCode::from(1)
    }
}
