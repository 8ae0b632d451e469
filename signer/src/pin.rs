//! Where a PIN or password comes from. The value is held as a secret and never printed.

use std::path::PathBuf;

use secrecy::SecretString;

use crate::SignerError;

/// A PIN source: an environment variable or a file (first line, trailing newline removed).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum PinSource {
    /// The named environment variable.
    Env(String),
    /// The file at this path.
    File(PathBuf),
}

impl PinSource {
    /// Reads the PIN.
    pub fn read(&self) -> Result<SecretString, SignerError> {
        let text = match self {
            PinSource::Env(name) => std::env::var(name)
                .map_err(|_| SignerError::Pin(format!("environment variable {name} is not set")))?,
            PinSource::File(path) => std::fs::read_to_string(path)
                .map_err(|e| SignerError::Pin(format!("{}: {e}", path.display())))?,
        };
        let pin = text.lines().next().unwrap_or("").to_string();
        if pin.is_empty() {
            return Err(SignerError::Pin(format!("{self:?} is empty")));
        }
        Ok(SecretString::from(pin))
    }
}

impl std::str::FromStr for PinSource {
    type Err = String;
    /// `env:NAME` or `file:PATH`.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.split_once(':') {
            Some(("env", name)) if !name.is_empty() => Ok(PinSource::Env(name.into())),
            Some(("file", path)) if !path.is_empty() => Ok(PinSource::File(path.into())),
            _ => Err(format!("PIN source {s:?} must be env:NAME or file:PATH")),
        }
    }
}
