"""The insurance product catalogue: import/export, linking a fiche to a plan, facts for audits."""
