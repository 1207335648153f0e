"""Exceptions whose messages are written for users (they name the file, field or participant)."""


class CardiolatentError(ValueError):
    """Base class: bad input that the user can fix. The CLI prints the message without a traceback."""


class NotATableError(CardiolatentError):
    """The file is empty, binary, or has no recognisable delimiter/header."""


class UnknownNamingError(CardiolatentError):
    """Column names follow none of the supported UK Biobank naming styles."""


class MissingFieldError(CardiolatentError):
    """A required field is absent from the file (message lists the names tried)."""


class DuplicateIdError(CardiolatentError):
    """Participant ids (eid) occur more than once (message lists a few)."""


class UnknownFieldError(CardiolatentError):
    """A field name is not in the field registry (message lists close names)."""


class FieldValueError(CardiolatentError):
    """A value cannot be parsed as its field's type (message names file, column, eid and value)."""


class BulkZipError(CardiolatentError):
    """A UK Biobank bulk image zip cannot be used: not a zip, no such series, unreadable DICOM (names the zip)."""


class PreparationError(CardiolatentError):
    """A cine series cannot be prepared for the model: wrong frame count, no moving region, bad shape."""


class WeightsError(CardiolatentError):
    """Model weights cannot be used: unreadable, unsafe to unpickle, or not fitting the network (names the file)."""


class UnsafeWeightsError(WeightsError):
    """A weights file needs arbitrary unpickling (custom Python objects), which cardiolatent refuses."""
