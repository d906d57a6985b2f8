"""Custom actions (rasa_sdk), served by `rasa run actions`.

Only the decision-aid walkthrough needs them; safety and FAQ replies are domain
responses sent by the Rasa server itself.
"""
