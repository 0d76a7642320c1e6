"""The chatbot's user model and system model (TalkTuner): probes that read them, pins that steer them, and
the ChatDashboard widget."""

from .judge import ReplyJudge
from .method import STRENGTH_LIMIT, Attribute, AttributeProbes, ChatProbes, fit_attribute, middle_band
from .session import ChatSession

__all__ = ["Attribute", "AttributeProbes", "ChatProbes", "ChatSession", "ReplyJudge", "fit_attribute", "middle_band",
           "STRENGTH_LIMIT"]
