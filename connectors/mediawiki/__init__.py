"""The `mediawiki` source: XML exports and a live wiki's Action API."""
