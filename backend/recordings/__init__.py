"""Call analysis (issue #22): recordings kept by callpath, their transcripts and links.

- :mod:`storage`: where files live (a local folder, or an S3-compatible bucket);
- :mod:`media`: what a file holds (duration, channels) and its mp3, with ffmpeg;
- :mod:`fetch`: the durable fetch of a recording from the carrier;
- :mod:`transcribe`: transcription engines and the durable transcription job;
- :mod:`worker`: the server's background round of both jobs;
- :mod:`links`: short-lived signed links to hear a recording;
- :mod:`retention`: recordings deleted after their advertiser's period, audited.

The rules on a transcript (normalisation, phrases, masking, search grams) are domain code in
``attribution.transcripts``.
"""
