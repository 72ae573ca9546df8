"""Stand-in of modules/api/api.py (v1.10.1): the built-in hypernetwork listing route and the txt2img route, with
Api.__init__ building the UI when no tab has initialised the script runners yet (as under --nowebui)."""
from contextlib import closing
from secrets import compare_digest

from fastapi import Depends, FastAPI, HTTPException
from fastapi.security import HTTPBasic, HTTPBasicCredentials
from pydantic import BaseModel

from modules import progress, scripts, shared, ui
from removed_hypernetworks import hypernetworks_removed

if not hypernetworks_removed():  # Forge Neo / Classic: no hypernetwork routes at all
    from modules.hypernetworks.hypernetwork import create_hypernetwork, train_hypernetwork
from modules.processing import StableDiffusionProcessingTxt2Img, process_images


class StableDiffusionTxt2ImgProcessingAPI(BaseModel):
    """The request fields the stand-in's processing object takes (the real model has every one of them)."""
    prompt: str = ""
    negative_prompt: str = ""
    seed: int = -1
    sampler_name: str = "Euler"
    batch_size: int = 1
    n_iter: int = 1
    steps: int = 50
    cfg_scale: float = 7.0
    width: int = 512
    height: int = 512
    enable_hr: bool = False
    denoising_strength: float = 0.75
    hr_second_pass_steps: int = 0
    hr_sampler_name: str = None
    hr_prompt: str = ""
    override_settings: dict = None
    force_task_id: str = None
    send_images: bool = True
    save_images: bool = False


class Api:
    def __init__(self, app: FastAPI, queue_lock=None):
        self.app = app
        self.queue_lock = queue_lock
        self.credentials = {}
        if shared.cmd_opts.api_auth:  # "user:pass,user2:pass2", as --api-auth takes it
            for pair in shared.cmd_opts.api_auth.split(","):
                user, password = pair.split(":")
                self.credentials[user] = password
        self.add_api_route("/sdapi/v1/txt2img", self.text2imgapi, methods=["POST"])
        if not hypernetworks_removed():
            self.add_api_route("/sdapi/v1/hypernetworks", self.get_hypernetworks, methods=["GET"])
            self.add_api_route("/sdapi/v1/create/hypernetwork", self.create_hypernetwork, methods=["POST"])
            self.add_api_route("/sdapi/v1/train/hypernetwork", self.train_hypernetwork, methods=["POST"])
        if scripts.scripts_txt2img is not None and not scripts.scripts_txt2img.scripts:
            ui.create_ui()

    def add_api_route(self, path: str, endpoint, **kwargs):
        # as the real one: with --api-auth every route the Api adds depends on its HTTP Basic check
        if shared.cmd_opts.api_auth:
            return self.app.add_api_route(path, endpoint, dependencies=[Depends(self.auth)], **kwargs)
        return self.app.add_api_route(path, endpoint, **kwargs)

    def auth(self, credentials: HTTPBasicCredentials = Depends(HTTPBasic())):
        known = self.credentials.get(credentials.username)
        if known is not None and compare_digest(credentials.password, known):
            return True
        raise HTTPException(status_code=401, detail="Incorrect username or password",
                            headers={"WWW-Authenticate": "Basic"})

    def get_hypernetworks(self):
        return [{"name": name, "path": shared.hypernetworks[name]} for name in shared.hypernetworks]

    # The built-in trainer's routes: the functions are module globals imported from modules.hypernetworks,
    # looked up at call time; errors come back as {"info": "... error: ..."} (AssertionError for create).
    def create_hypernetwork(self, args: dict):
        try:
            shared.state.begin(job="create_hypernetwork")
            filename = create_hypernetwork(**args)
            return {"info": f"create hypernetwork filename: {filename}"}
        except AssertionError as e:
            return {"info": f"create hypernetwork error: {e}"}
        finally:
            shared.state.end()

    def train_hypernetwork(self, args: dict):
        try:
            shared.state.begin(job="train_hypernetwork")
            error, filename = None, ""
            try:
                hypernetwork, filename = train_hypernetwork(**args)
            except Exception as e:
                error = e
            return {"info": f"train embedding complete: filename: {filename} error: {error}"}
        except Exception as exc:
            return {"info": f"train embedding error: {exc}"}
        finally:
            shared.state.end()

    def text2imgapi(self, txt2imgreq: StableDiffusionTxt2ImgProcessingAPI):
        task_id = txt2imgreq.force_task_id or "task(api)"
        args = txt2imgreq.model_dump()
        for key in ("force_task_id", "send_images", "save_images"):
            args.pop(key)
        progress.add_task_to_queue(task_id)
        with self.queue_lock:
            with closing(StableDiffusionProcessingTxt2Img(**args)) as p:
                p.is_api = True
                p.scripts = scripts.scripts_txt2img
                try:
                    shared.state.begin(job="scripts_txt2img")
                    progress.start_task(task_id)
                    processed = process_images(p)
                    progress.finish_task(task_id)
                finally:
                    shared.state.end()
        return {"images": [], "parameters": txt2imgreq.model_dump(), "info": processed.js()}
