"""The optional link to the police: authorisations, scoped queries, signed GA/T 1400 exports and VIID push."""
