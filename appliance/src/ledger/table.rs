//! Containers of the ledger state that remember what changed.
//!
//! The state tree's update for a block is read from these records, not from calls placed by hand
//! beside each mutation: a mutation cannot reach a [`Table`] or a [`Tracked`] value without being
//! recorded, so a new operation cannot forget to update the state root.

use std::borrow::Borrow;
use std::collections::{BTreeMap, BTreeSet};
use std::ops::{Deref, RangeBounds};

/// An ordered map whose every mutation records the key it touched.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
#[serde(transparent)]
#[serde(bound(
    serialize = "K: serde::Serialize, V: serde::Serialize",
    deserialize = "K: Ord + serde::Deserialize<'de>, V: serde::Deserialize<'de>"
))]
pub(crate) struct Table<K: Ord, V> {
    rows: BTreeMap<K, V>,
    #[serde(skip)]
    changed: BTreeSet<K>,
}

impl<K: Ord, V> Default for Table<K, V> {
    fn default() -> Self {
        Table {
            rows: BTreeMap::new(),
            changed: BTreeSet::new(),
        }
    }
}

/// Two tables are equal when their rows are: what changed is bookkeeping, not state.
impl<K: Ord, V: PartialEq> PartialEq for Table<K, V> {
    fn eq(&self, other: &Self) -> bool {
        self.rows == other.rows
    }
}

impl<K: Ord, V: Eq> Eq for Table<K, V> {}

impl<K: Ord + Clone, V> Table<K, V> {
    /// The row under `key`.
    pub(crate) fn get<Q: Ord + ?Sized>(&self, key: &Q) -> Option<&V>
    where
        K: Borrow<Q>,
    {
        self.rows.get(key)
    }

    /// Whether a row is under `key`.
    pub(crate) fn contains_key<Q: Ord + ?Sized>(&self, key: &Q) -> bool
    where
        K: Borrow<Q>,
    {
        self.rows.contains_key(key)
    }

    /// The rows as a plain map, for reading.
    pub(crate) fn as_map(&self) -> &BTreeMap<K, V> {
        &self.rows
    }

    /// Every key, in order.
    pub(crate) fn keys(&self) -> std::collections::btree_map::Keys<'_, K, V> {
        self.rows.keys()
    }

    /// Every value, in key order.
    pub(crate) fn values(&self) -> std::collections::btree_map::Values<'_, K, V> {
        self.rows.values()
    }

    /// The rows whose keys fall in `range`.
    pub(crate) fn range<R: RangeBounds<K>>(
        &self,
        range: R,
    ) -> std::collections::btree_map::Range<'_, K, V> {
        self.rows.range(range)
    }

    /// Puts `value` under `key`, recording the change.
    pub(crate) fn insert(&mut self, key: K, value: V) -> Option<V> {
        self.changed.insert(key.clone());
        self.rows.insert(key, value)
    }

    /// Removes the row under `key`, recording the change.
    pub(crate) fn remove<Q: Ord + ?Sized>(&mut self, key: &Q) -> Option<V>
    where
        K: Borrow<Q>,
    {
        let (key, removed) = self.rows.remove_entry(key)?;
        self.changed.insert(key);
        Some(removed)
    }

    /// The row under `key` for changing; the change is recorded.
    pub(crate) fn get_mut<Q: Ord + ?Sized>(&mut self, key: &Q) -> Option<&mut V>
    where
        K: Borrow<Q>,
    {
        let (owned, _) = self.rows.get_key_value(key)?;
        self.changed.insert(owned.clone());
        self.rows.get_mut(key)
    }

    /// Changes every row `change` picks (returns true for), recording each change.
    pub(crate) fn update_where(&mut self, mut change: impl FnMut(&K, &mut V) -> bool) {
        for (key, value) in &mut self.rows {
            if change(key, value) {
                self.changed.insert(key.clone());
            }
        }
    }

    /// Puts every pair, recording each change.
    pub(crate) fn extend(&mut self, rows: impl IntoIterator<Item = (K, V)>) {
        for (key, value) in rows {
            self.insert(key, value);
        }
    }

    /// The keys changed since the last call.
    pub(crate) fn take_changed(&mut self) -> BTreeSet<K> {
        std::mem::take(&mut self.changed)
    }
}

impl<'a, K: Ord, V> IntoIterator for &'a Table<K, V> {
    type Item = (&'a K, &'a V);
    type IntoIter = std::collections::btree_map::Iter<'a, K, V>;

    fn into_iter(self) -> Self::IntoIter {
        self.rows.iter()
    }
}

/// One value of the state that records whether it was changed. Reading goes through `Deref`;
/// changing needs [`Tracked::get_mut`] or [`Tracked::set`].
#[derive(Debug, Clone, Default, serde::Serialize, serde::Deserialize)]
#[serde(transparent)]
pub(crate) struct Tracked<T> {
    value: T,
    #[serde(skip)]
    changed: bool,
}

impl<T: PartialEq> PartialEq for Tracked<T> {
    fn eq(&self, other: &Self) -> bool {
        self.value == other.value
    }
}

impl<T: Eq> Eq for Tracked<T> {}

impl<T> Tracked<T> {
    /// A value not yet changed.
    pub(crate) fn new(value: T) -> Self {
        Tracked {
            value,
            changed: false,
        }
    }

    /// The value for changing; the change is recorded.
    pub(crate) fn get_mut(&mut self) -> &mut T {
        self.changed = true;
        &mut self.value
    }

    /// Replaces the value, recording the change.
    pub(crate) fn set(&mut self, value: T) {
        self.changed = true;
        self.value = value;
    }

    /// Whether it changed since the last call.
    pub(crate) fn take_changed(&mut self) -> bool {
        std::mem::take(&mut self.changed)
    }
}

impl<T> Deref for Tracked<T> {
    type Target = T;

    fn deref(&self) -> &T {
        &self.value
    }
}
