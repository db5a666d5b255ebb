//! A validated register map: blocks (where reads are allowed), fields (what
//! each register shows) and coils.

use super::quantity::{Access, FieldType, Quantity};

/// Word order of 32-bit values.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WordOrder {
    /// High word first [decision, SPEC §4].
    HighFirst,
    LowFirst,
}

/// A contiguous range of registers that may be read together; words inside
/// it that no field covers are reserved and read 0.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Block {
    pub name: String,
    pub start: u16,
    /// Last register, inclusive.
    pub end: u16,
}

/// One value in the register map.
#[derive(Debug, Clone, PartialEq)]
pub struct Field {
    pub address: u16,
    pub kind: FieldType,
    pub quantity: Quantity,
    pub access: Access,
    pub name: String,
    pub unit: String,
    pub description: String,
}

impl Field {
    /// Last register of the field, inclusive.
    pub fn last(&self) -> u16 {
        self.address + (self.kind.width() - 1)
    }
}

/// A coil (only the relay on the KPM31).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Coil {
    pub address: u16,
    pub name: String,
    pub access: Access,
    pub description: String,
}

/// The register map of a profile.
#[derive(Debug, Clone, PartialEq)]
pub struct RegisterMap {
    blocks: Vec<Block>,
    /// Sorted by address, non-overlapping.
    fields: Vec<Field>,
    coils: Vec<Coil>,
    pub word_order: WordOrder,
}

impl RegisterMap {
    pub fn new(
        mut blocks: Vec<Block>,
        mut fields: Vec<Field>,
        coils: Vec<Coil>,
        word_order: WordOrder,
    ) -> Self {
        blocks.sort_by_key(|b| b.start);
        fields.sort_by_key(|f| f.address);
        Self {
            blocks,
            fields,
            coils,
            word_order,
        }
    }

    pub fn blocks(&self) -> &[Block] {
        &self.blocks
    }

    pub fn fields(&self) -> &[Field] {
        &self.fields
    }

    pub fn coils(&self) -> &[Coil] {
        &self.coils
    }

    /// The block holding every register of `start..start+count`, if one does.
    pub fn block_for(&self, start: u16, count: u16) -> Option<&Block> {
        let last = u32::from(start) + u32::from(count).max(1) - 1;
        let i = self.blocks.partition_point(|b| b.end < start);
        self.blocks
            .get(i)
            .filter(|b| b.start <= start && last <= u32::from(b.end))
    }

    /// Fields that overlap `start..=last`.
    pub fn fields_overlapping(&self, start: u16, last: u16) -> &[Field] {
        let from = self.fields.partition_point(|f| f.last() < start);
        let to = self.fields.partition_point(|f| f.address <= last);
        self.fields.get(from..to.max(from)).unwrap_or(&[])
    }

    pub fn coil(&self, address: u16) -> Option<&Coil> {
        self.coils.iter().find(|c| c.address == address)
    }

    /// The field showing `quantity`, if the map has one.
    pub fn field_of(&self, quantity: Quantity) -> Option<&Field> {
        self.fields.iter().find(|f| f.quantity == quantity)
    }
}
