//! Folding the paths that lines name one by one (denial reports) into what a person would
//! grant: every use of one pod's container goes into one learn-mode record and is folded by the
//! learn-mode rules ([`init_shim::learn::fold`]), so a directory of three denied files becomes the
//! directory, and `/`, `/etc`, `/proc`, `/sys`, `/dev` are never suggested whole.

use std::collections::BTreeMap;

use init_shim::learn::fold;
use init_shim::learn::record::Record;

use crate::suggest::input::{Observation, Source};

/// Replaces the uses of `observations` by one folded observation per source.
pub fn fold_uses(observations: &mut Vec<Observation>) {
    // Per source and replica: folding stays within one run, as learn mode's does.
    let mut records: BTreeMap<(Source, String), Record> = BTreeMap::new();
    for observation in observations.iter_mut() {
        if observation.uses.is_empty() {
            continue;
        }
        let key = (observation.source.clone(), observation.replica.clone());
        let record = records.entry(key).or_default();
        for need in std::mem::take(&mut observation.uses) {
            record.need(need);
        }
    }
    for ((source, replica), record) in records {
        let folded = fold::fold_on(&record, fold::Disk::Unknown);
        observations.push(Observation {
            source,
            grants: folded.grants,
            profile: None,
            notes: folded
                .not_suggested
                .iter()
                .map(|n| format!("{} not suggested: {}", n.path, n.why))
                .collect(),
            uses: Vec::new(),
            replica,
        });
    }
}
