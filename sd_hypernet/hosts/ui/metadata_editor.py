"""The user-metadata editor of a Hypernetworks card: description and notes (from the host's editor) plus
preferred weight, activation text and negative text, and the file's structure in the info table.

Builds under gradio 3.41 (webui 1.10) and 4.40 (Forge v2): only components and arguments both share, no `_js`.
"""
from __future__ import annotations

import html

from modules import ui_extra_networks_user_metadata

from sd_hypernet.hosts.ui.card_facts import (MULTIPLIER_MAX, MULTIPLIER_MIN, UM_ACTIVATION_TEXT, UM_NEGATIVE_TEXT,
                                             UM_PREFERRED_WEIGHT, UM_USE_PREFERRED_WEIGHT, activation_text,
                                             preferred_weight)

# Rows added to the file table: metadata key -> label.
TABLE_ROWS = (
    ("model family", "Model family:"),
    ("sizes", "Sizes:"),
    ("layer structure", "Layer structure:"),
    ("activation", "Activation:"),
    ("layer norm", "Layer norm:"),
    ("dropout", "Dropout:"),
    ("steps trained", "Steps trained:"),
    ("base checkpoint", "Base checkpoint:"),
    ("parameters", "Parameters:"),
    ("name", "Internal name:"),
    ("error", "Cannot load:"),
)


def _cell(value) -> str:
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, list):
        return ", ".join(str(v) for v in value)
    if isinstance(value, int):
        return f"{value:,}"
    return str(value)


class HypernetUserMetadataEditor(ui_extra_networks_user_metadata.UserMetadataEditor):
    def __init__(self, ui, tabname, page):
        super().__init__(ui, tabname, page)
        self.edit_activation_text = None
        self.check_preferred_weight = None
        self.slider_preferred_weight = None
        self.edit_negative_text = None

    def get_metadata_table(self, name):
        item = self.page.items.get(name, {})
        if item.get("filename") and not item.get("shorthash"):
            # opening the editor is a request for this file's hash (the listing never computes one)
            from sd_hypernet.info import file_hash
            try:
                item["shorthash"] = file_hash(item["filename"])[:10]
            except OSError:
                pass
        table = super().get_metadata_table(name)
        metadata = item.get("metadata") or {}
        for key, label in TABLE_ROWS:
            value = metadata.get(key)
            if value is None or value == "" or value == []:
                continue
            table.append((label, html.escape(_cell(value))))
        return table

    def put_values_into_components(self, name):
        user_metadata = self.get_user_metadata(name)
        values = super().put_values_into_components(name)
        weight = preferred_weight(user_metadata)
        suggested = (self.page.items.get(name) or {}).get("suggested_activation_text")  # civitai's trained words
        return [
            *values[0:5],
            activation_text(user_metadata, suggested),
            weight is not None,
            weight if weight is not None else 0.0,
            str(user_metadata.get(UM_NEGATIVE_TEXT) or ""),
        ]

    def save_hypernet_user_metadata(self, name, desc, activation_text, use_weight, weight, negative_text, notes):
        user_metadata = self.get_user_metadata(name)
        user_metadata["description"] = desc
        user_metadata[UM_ACTIVATION_TEXT] = activation_text
        user_metadata[UM_USE_PREFERRED_WEIGHT] = bool(use_weight)
        user_metadata[UM_PREFERRED_WEIGHT] = float(weight or 0.0)
        user_metadata[UM_NEGATIVE_TEXT] = negative_text
        user_metadata["notes"] = notes
        self.write_user_metadata(name, user_metadata)

    def create_editor(self):
        import gradio as gr

        self.create_default_editor_elems()
        self.edit_activation_text = gr.Textbox(label="Activation text", info="Added to the prompt after the tag")
        self.check_preferred_weight = gr.Checkbox(
            label="Use a preferred weight", value=False,
            info="Clicking the card inserts the weight below instead of the Multiplier slider's (0 and negative "
                 "weights too)")
        self.slider_preferred_weight = gr.Slider(
            label="Preferred weight", minimum=MULTIPLIER_MIN, maximum=MULTIPLIER_MAX, step=0.05, value=0.0)
        self.edit_negative_text = gr.Textbox(label="Negative prompt", info="Added to the negative prompt")
        self.edit_notes = gr.TextArea(label="Notes", lines=4)
        self.create_default_buttons()

        shown = [self.edit_name, self.edit_description, self.html_filedata, self.html_preview, self.edit_notes,
                 self.edit_activation_text, self.check_preferred_weight, self.slider_preferred_weight,
                 self.edit_negative_text]
        self.button_edit.click(fn=self.put_values_into_components, inputs=[self.edit_name_input], outputs=shown)\
            .then(fn=lambda: gr.update(visible=True), inputs=[], outputs=[self.box])

        edited = [self.edit_description, self.edit_activation_text, self.check_preferred_weight,
                  self.slider_preferred_weight, self.edit_negative_text, self.edit_notes]
        self.setup_save_handler(self.button_save, self.save_hypernet_user_metadata, edited)
