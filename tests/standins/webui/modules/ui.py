"""Stand-in of modules/ui.py: `create_ui` as far as extensions see it — the txt2img script runner initialised and
every on_ui_tabs callback run (the real one also builds the generation tabs, settings and extra-networks UI).

`create_train_interface()` builds the part of v1.10.1's Train tab that concerns hypernetworks, with the real
elem_ids, labels and tab ids (the same in reForge): the "Create hypernetwork" sub-tab, and in the "Train"
sub-tab (shared with embeddings) the Hypernetwork dropdown with its refresh button, the learning rate and the
"Train Hypernetwork" button, bound to modules.hypernetworks.ui as the real one binds them. Components go through
the gradio patch (modules/gradio_extensons.py), so on_after_component callbacks run as in the webui."""
from modules import script_callbacks, scripts, shared


def create_ui():
    scripts.scripts_txt2img.initialize_scripts(is_img2img=False)
    return script_callbacks.ui_tabs_callback()


def create_train_interface():
    import gradio as gr

    import modules.hypernetworks.ui as hypernetworks_ui
    from modules import gradio_extensons

    gradio_extensons.patch()
    ui = {}
    with gr.Blocks(analytics_enabled=False) as train_interface:
        with gr.Row(equal_height=False):
            with gr.Tabs(elem_id="train_tabs"):
                with gr.Tab(label="Create embedding", id="create_embedding"):
                    gr.Textbox(label="Name", elem_id="train_new_embedding_name")
                    ui["create_embedding"] = gr.Button(value="Create embedding", variant="primary",
                                                       elem_id="train_create_embedding")
                with gr.Tab(label="Create hypernetwork", id="create_hypernetwork") as ui["create_tab"]:
                    name = gr.Textbox(label="Name", elem_id="train_new_hypernetwork_name")
                    sizes = gr.CheckboxGroup(label="Modules", value=["768", "320", "640", "1280"],
                                             choices=["768", "1024", "320", "640", "1280"],
                                             elem_id="train_new_hypernetwork_sizes")
                    layers = gr.Textbox("1, 2, 1", label="Enter hypernetwork layer structure",
                                        elem_id="train_new_hypernetwork_layer_structure")
                    act = gr.Dropdown(value="linear", label="Select activation function of hypernetwork",
                                      choices=["linear", "relu"], elem_id="train_new_hypernetwork_activation_func")
                    init = gr.Dropdown(value="Normal", label="Select Layer weights initialization",
                                       choices=["Normal", "KaimingUniform"],
                                       elem_id="train_new_hypernetwork_initialization_option")
                    ln = gr.Checkbox(label="Add layer normalization", elem_id="train_new_hypernetwork_add_layer_norm")
                    drop = gr.Checkbox(label="Use dropout", elem_id="train_new_hypernetwork_use_dropout")
                    drop_structure = gr.Textbox("0, 0, 0", label="Enter hypernetwork Dropout structure (or empty). "
                                                "Recommended : 0~0.35 incrementing sequence: 0, 0.05, 0.15")
                    overwrite = gr.Checkbox(value=False, label="Overwrite Old Hypernetwork",
                                            elem_id="train_overwrite_old_hypernetwork")
                    with gr.Row():
                        with gr.Column():
                            ui["create_button"] = gr.Button(value="Create hypernetwork", variant="primary",
                                                            elem_id="train_create_hypernetwork")
                with gr.Tab(label="Train", id="train"):
                    with gr.Row():
                        ui["embedding"] = gr.Dropdown(label="Embedding", elem_id="train_embedding", choices=[])
                        ui["hypernetwork"] = gr.Dropdown(label="Hypernetwork", elem_id="train_hypernetwork",
                                                         choices=sorted(shared.hypernetworks))
                        ui["refresh"] = gr.Button(value="\U0001f504", elem_id="refresh_train_hypernetwork_name")
                    with gr.Row():
                        gr.Textbox(label="Embedding Learning rate", value="0.005", elem_id="train_embedding_learn_rate")
                        ui["learn_rate"] = gr.Textbox(label="Hypernetwork Learning rate", value="0.00001",
                                                      elem_id="train_hypernetwork_learn_rate")
                    with gr.Row():
                        ui["train_embedding"] = gr.Button(value="Train Embedding", variant="primary",
                                                          elem_id="train_train_embedding")
                        gr.Button(value="Interrupt", elem_id="train_interrupt_training")
                        ui["train_button"] = gr.Button(value="Train Hypernetwork", variant="primary",
                                                       elem_id="train_train_hypernetwork")
            with gr.Column(elem_id="ti_gallery_container"):
                ti_output = gr.Text(elem_id="ti_output", value="", show_label=False)
                ti_outcome = gr.HTML(elem_id="ti_error", value="")

        ui["create_button"].click(fn=hypernetworks_ui.create_hypernetwork,
                                  inputs=[name, sizes, overwrite, layers, act, init, ln, drop, drop_structure],
                                  outputs=[ui["hypernetwork"], ti_output, ti_outcome])
        ui["train_button"].click(fn=hypernetworks_ui.train_hypernetwork,
                                 inputs=[ui["hypernetwork"], ui["learn_rate"]], outputs=[ti_output, ti_outcome])
        ui["refresh"].click(fn=lambda: gr.update(choices=sorted(shared.hypernetworks)), outputs=[ui["hypernetwork"]])
    ui["blocks"] = train_interface
    return ui
