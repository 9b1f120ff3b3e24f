"""What a run tells: its report (JSON, JUnit), live progress for people (for machines, warnings only), and
the one scrubber that keeps decrypted values out of both."""
