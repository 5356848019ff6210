// Copyright 2017-2021 Lei Ni (nilei81@gmail.com) and other contributors.
//
// Licensed under the Apache License, Version 2.0 (the "License");
// you may not use this file except in compliance with the License.
// You may obtain a copy of the License at
//
//     http://www.apache.org/licenses/LICENSE-2.0
//
// Unless required by applicable law or agreed to in writing, software
// distributed under the License is distributed on an "AS IS" BASIS,
// WITHOUT WARRANTIES OR CONDITIONS OF ANY KIND, either express or implied.
// See the License for the specific language governing permissions and
// limitations under the License.

package tan

import (
	"github.com/lni/dragonboat/v4/internal/tan"
)

// Factory is the factory variable used to create tan instances.
var Factory = tan.Factory

// SharedFactory creates tan instances whose replicas share log files: the
// replicas that config.EngineConfig.StepGroup puts on one step worker write to one log
// file, so one fsync persists all of their updates of a step (Longboat
// patch, see LONGBOAT-PATCHES.md).
var SharedFactory = tan.SharedFactory
