"""`/api/audit-configs`: versioned scorecards."""
