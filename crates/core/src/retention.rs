//! Retention: which archives to remove, as a pure function of the list and
//! `now`, and applying it. OWNER: H2.
