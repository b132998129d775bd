"""Energy facts where teams publish them: a Hugging Face model card section
(:mod:`efflab.publish.card`) and BoAmps records (:mod:`efflab.publish.boamps`), both rendered from
the one assessment and the results frame."""
