"""The post-incident report of a failover request: evidence (`evidence.build_report`), its
framework mapping (`frameworks`) and its Markdown rendering (`markdown`)."""
