//! Sharding for cluster runs: which speeches a shard owns (by a hash of the speech id, so the
//! split does not depend on file order), and which shard this process is, from `--shard I/N` or
//! from the scheduler's environment (Slurm array jobs, Kubernetes Indexed Jobs).

use std::fmt;
use std::str::FromStr;

use sha2::{Digest, Sha256};

/// Shard `index` of `count` (0-based).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Shard {
    pub index: usize,
    pub count: usize,
}

impl Shard {
    /// The shard a speech id belongs to: the first 8 bytes of SHA-256(id), modulo the count.
    pub fn of(id: &str, count: usize) -> usize {
        let digest = Sha256::digest(id.as_bytes());
        let mut first = [0u8; 8];
        first.copy_from_slice(&digest[..8]);
        (u64::from_be_bytes(first) % count as u64) as usize
    }

    pub fn owns(&self, id: &str) -> bool {
        Shard::of(id, self.count) == self.index
    }
}

impl fmt::Display for Shard {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.index, self.count)
    }
}

impl FromStr for Shard {
    type Err = String;

    /// `I/N`, 0 <= I < N.
    fn from_str(s: &str) -> Result<Self, String> {
        let (i, n) = s.split_once('/').ok_or_else(|| format!("`{s}` is not I/N (for example 0/4)"))?;
        let index: usize = i.trim().parse().map_err(|_| format!("`{i}` is not a shard number"))?;
        let count: usize = n.trim().parse().map_err(|_| format!("`{n}` is not a shard count"))?;
        if count == 0 || index >= count {
            return Err(format!("shard {index}/{count}: need 0 <= I < N"));
        }
        Ok(Shard { index, count })
    }
}

/// The shard from the environment, with where it came from, for the log:
/// Slurm's `SLURM_ARRAY_TASK_ID` with `SLURM_ARRAY_TASK_COUNT` (or `_MIN`/`_MAX`), or a Kubernetes
/// Indexed Job's `JOB_COMPLETION_INDEX` with `shards` (`--shards N`).
pub fn from_env(get: impl Fn(&str) -> Option<String>, shards: Option<usize>) -> Result<Option<(Shard, String)>, String> {
    let num = |name: &str| -> Result<Option<usize>, String> {
        match get(name) {
            None => Ok(None),
            Some(v) => v.trim().parse().map(Some).map_err(|_| format!("{name}={v} is not a number")),
        }
    };
    if let Some(task) = num("SLURM_ARRAY_TASK_ID")? {
        let min = num("SLURM_ARRAY_TASK_MIN")?.unwrap_or(0);
        let count = match (num("SLURM_ARRAY_TASK_COUNT")?, num("SLURM_ARRAY_TASK_MAX")?) {
            (Some(c), _) => c,
            (None, Some(max)) => max + 1 - min,
            (None, None) => return Err("SLURM_ARRAY_TASK_ID is set but neither SLURM_ARRAY_TASK_COUNT nor SLURM_ARRAY_TASK_MAX".into()),
        };
        let shard: Shard = format!("{}/{count}", task.checked_sub(min).ok_or("SLURM_ARRAY_TASK_ID below SLURM_ARRAY_TASK_MIN")?).parse()?;
        return Ok(Some((shard, format!("Slurm array task {task} (of {count}, from {min})"))));
    }
    if let Some(index) = num("JOB_COMPLETION_INDEX")? {
        let count = shards.ok_or("JOB_COMPLETION_INDEX is set: pass --shards N (the Indexed Job's completions)")?;
        let shard: Shard = format!("{index}/{count}").parse()?;
        return Ok(Some((shard, format!("Kubernetes completion index {index} of {count}"))));
    }
    Ok(None)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn env(pairs: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> {
        let map: HashMap<String, String> = pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
        move |k| map.get(k).cloned()
    }

    #[test]
    fn parsing() {
        assert_eq!("2/4".parse::<Shard>(), Ok(Shard { index: 2, count: 4 }));
        for bad in ["4/4", "1", "a/2", "0/0", "-1/3"] {
            assert!(bad.parse::<Shard>().is_err(), "{bad}");
        }
    }

    #[test]
    fn every_id_lands_in_exactly_one_shard_and_the_split_is_even() {
        let mut sizes = [0usize; 4];
        for i in 0..4000 {
            let id = format!("DEV-{i:04}");
            let owners: Vec<usize> = (0..4).filter(|&k| Shard { index: k, count: 4 }.owns(&id)).collect();
            assert_eq!(owners.len(), 1);
            sizes[owners[0]] += 1;
        }
        assert!(sizes.iter().all(|&n| (850..1150).contains(&n)), "{sizes:?}");
        assert_eq!(Shard::of("same id", 7), Shard::of("same id", 7));
    }

    #[test]
    fn scheduler_environments() {
        let got = from_env(env(&[("SLURM_ARRAY_TASK_ID", "3"), ("SLURM_ARRAY_TASK_COUNT", "4")]), None).unwrap().unwrap();
        assert_eq!(got.0, Shard { index: 3, count: 4 });
        let got = from_env(env(&[("SLURM_ARRAY_TASK_ID", "7"), ("SLURM_ARRAY_TASK_MIN", "5"), ("SLURM_ARRAY_TASK_MAX", "8")]), None).unwrap().unwrap();
        assert_eq!(got.0, Shard { index: 2, count: 4 });
        let got = from_env(env(&[("JOB_COMPLETION_INDEX", "1")]), Some(3)).unwrap().unwrap();
        assert_eq!(got.0, Shard { index: 1, count: 3 });
        assert!(from_env(env(&[("JOB_COMPLETION_INDEX", "1")]), None).is_err());
        assert!(from_env(env(&[("SLURM_ARRAY_TASK_ID", "1")]), None).is_err());
        assert_eq!(from_env(env(&[]), None), Ok(None));
    }
}
