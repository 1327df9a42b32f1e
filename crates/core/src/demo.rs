//! The five demo databases of a price/analytics bot. OWNER: H4.
