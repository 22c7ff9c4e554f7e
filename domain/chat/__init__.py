"""Chat over an audit or a fiche (reference §8), as pure logic: context, citations, stream framing."""
