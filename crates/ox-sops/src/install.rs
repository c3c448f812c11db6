//! Installing secrets at activation.
